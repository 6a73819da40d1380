// A desktop customer app: Electron's Chromium runs the same customer page and the same
// @assistrtc/web bundle as the browser (nothing Electron-specific in the SDK). Screen sharing
// needs Electron's display-media handler, which hands getDisplayMedia a screen source.
const { app, BrowserWindow, desktopCapturer, session } = require('electron');

// The server that serves the customer page and signaling, e.g. `cargo xtask demo`.
const SERVER = process.env.ASSISTRTC_SERVER ?? 'http://127.0.0.1:8080';

app.whenReady().then(() => {
  session.defaultSession.setDisplayMediaRequestHandler(async (_request, callback) => {
    // A real app shows its own picker; this one shares the first screen.
    const [screen] = await desktopCapturer.getSources({ types: ['screen'] });
    callback(screen ? { video: screen } : {});
  });
  const win = new BrowserWindow({ width: 1280, height: 800, webPreferences: { contextIsolation: true } });
  // The call link the agent sent, e.g. ASSISTRTC_LINK=http://…/customer/#token=…
  win.loadURL(process.env.ASSISTRTC_LINK ?? `${SERVER}/customer/`);
});

app.on('window-all-closed', () => app.quit());
