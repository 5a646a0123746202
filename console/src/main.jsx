import { render } from 'preact';
import { App } from './app.jsx';
import { loadConfig } from './api.js';
import { initialLanguage } from './i18n.js';
import { setToken, takeSignInAnswer } from './session.js';
import './styles.css';

// Back from the hosted sign-in: keep the ID token, then drop it from the address bar and history.
const signedIn = takeSignInAnswer(location.hash);
if (location.hash.includes('id_token=')) {
  if (signedIn) setToken(signedIn);
  history.replaceState(null, '', location.pathname + location.search);
}

loadConfig().then((config) => {
  render(<App config={config} initialLang={initialLanguage()} />, document.getElementById('app'));
});
