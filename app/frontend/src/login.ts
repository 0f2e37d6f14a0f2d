// /login: JupyterHub (through /api/authorize) sends the browser here with the
// OAuth parameters; the credentials go to /api/login as JSON and the browser
// follows the {"redirect"} it gets back (redirect_uri?code=…&state=…).
import './style.css';
import { postJson } from './api';
import { Form } from './form';
import { HUB_LOGIN_URL, hasAuthorizationRequest, readOAuthParams, safeRedirect } from './oauth';
import { initPage, lang } from './page';
import { checkLogin } from './validate';

initPage();

const params = readOAuthParams(window.location.search);
const form = new Form('login-form', ['username', 'password'], 'login.submit', 'login.busy');

if (!hasAuthorizationRequest(params)) {
  // Opened directly: the hub starts the OAuth flow and comes back with parameters.
  form.el.hidden = true;
  const note = document.getElementById('redirect-note');
  if (note) note.hidden = false;
  window.location.replace(HUB_LOGIN_URL);
} else {
  form.onSubmit(
    checkLogin,
    async (values) => {
      const result = await postJson('/api/login', { ...values, ...params }, lang());
      // 200 {"redirect"}; also 400 {"redirect"} when the client's request was bad
      // (the error goes back to the client, as OAuth asks).
      if (typeof result.body.redirect !== 'string') {
        form.showServerError(result);
        return false;
      }
      const target = safeRedirect(result.body.redirect, window.location.href);
      if (target) {
        window.location.assign(target);
        return true;
      }
      form.setStatus({ key: 'error.bad_redirect' });
      return false;
    },
  );
}
