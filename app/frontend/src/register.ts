// /register: username, password and invite code go to /api/register; on 201
// the user is sent to the hub's login, which comes back to /login.
import './style.css';
import { postJson } from './api';
import { Form } from './form';
import { HUB_LOGIN_URL } from './oauth';
import { initPage, lang } from './page';
import { checkRegistration } from './validate';

initPage();

const form = new Form('register-form', ['username', 'password', 'invite_code'], 'register.submit', 'register.busy');

form.onSubmit(checkRegistration, async (values) => {
  const result = await postJson('/api/register', values, lang());
  if (result.status === 201) {
    form.setStatus({ key: 'register.done' });
    window.location.assign(HUB_LOGIN_URL);
    return true;
  }
  form.showServerError(result);
  return false;
});
