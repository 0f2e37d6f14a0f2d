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

form.el.addEventListener('submit', (event) => {
  event.preventDefault();
  void submit();
});

async function submit(): Promise<void> {
  form.clear();
  const values = {
    username: form.value('username').trim(),
    password: form.value('password'),
    invite_code: form.value('invite_code').trim(),
  };
  const errors = checkRegistration(values);
  if (errors.length > 0) {
    form.setFieldErrors(errors);
    return;
  }
  form.setBusy(true);
  try {
    const result = await postJson('/api/register', values, lang());
    if (result.status === 201) {
      form.setStatus({ key: 'register.done' });
      window.location.assign(HUB_LOGIN_URL);
      return;
    }
    form.showServerError(result);
  } catch {
    form.setStatus({ key: 'error.network' });
  }
  form.setBusy(false);
}
