rootProject.name = "assistrtc"
