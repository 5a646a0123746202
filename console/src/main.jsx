import { render } from 'preact';
import { App } from './app.jsx';
import { loadConfig } from './api.js';
import { initialLanguage } from './i18n.js';
import './styles.css';

loadConfig().then((config) => {
  render(<App config={config} initialLang={initialLanguage()} />, document.getElementById('app'));
});
