// A stand-in for https://telegram.org/js/telegram-web-app.js in the browser tests: the parts of
// Telegram.WebApp the web app uses, read from the launch parameters in the address's fragment
// as Telegram's script reads them, with the theme set as the same CSS properties.
(function () {
  const hash = new URLSearchParams(location.hash.slice(1));
  const initData = hash.get('tgWebAppData') ?? '';
  const initDataUnsafe = {};
  for (const [name, value] of new URLSearchParams(initData)) {
    initDataUnsafe[name] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  if (hash.has('tgWebAppStartParam')) initDataUnsafe.start_param = hash.get('tgWebAppStartParam');
  const themeParams = JSON.parse(hash.get('tgWebAppThemeParams') || '{}');
  const root = document.documentElement;
  let colorScheme = 'light';
  for (const [key, color] of Object.entries(themeParams)) {
    if (key === 'bg_color') {
      const [r, g, b] = [1, 3, 5].map((at) => parseInt(color.slice(at, at + 2), 16));
      colorScheme = Math.sqrt(0.299 * r * r + 0.587 * g * g + 0.114 * b * b) < 120 ? 'dark' : 'light';
      root.style.setProperty('--tg-color-scheme', colorScheme);
    }
    root.style.setProperty(`--tg-theme-${key.split('_').join('-')}`, color);
  }
  window.telegramDouble = { opened: [], ready: false, expanded: false };
  window.Telegram = {
    WebApp: {
      initData,
      initDataUnsafe,
      themeParams,
      colorScheme,
      version: hash.get('tgWebAppVersion') ?? '6.0',
      platform: hash.get('tgWebAppPlatform') ?? 'unknown',
      ready() {
        window.telegramDouble.ready = true;
      },
      expand() {
        window.telegramDouble.expanded = true;
      },
      onEvent() {},
      openTelegramLink(url) {
        const address = new URL(url);
        if (address.hostname !== 't.me') throw Error('WebAppTgUrlInvalid');
        window.telegramDouble.opened.push(url);
      },
    },
  };
})();
