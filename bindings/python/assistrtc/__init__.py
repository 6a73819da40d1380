"""AssistRTC for Python: the native SDK through its UniFFI bindings.

`cargo xtask bindings` generates `assistrtc_uniffi.py` here and copies the library beside it.
"""
from .assistrtc_uniffi import *  # noqa: F401,F403
