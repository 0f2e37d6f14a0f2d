// /password: a researcher changes their own password. The current one goes
// with the new one to /api/password; on success every earlier session of the
// user must log in again (the auth service revokes their tokens).
import './style.css';
import { postJson } from './api';
import { Form } from './form';
import { initPage, lang } from './page';
import { checkPasswordChange } from './validate';

initPage();

const form = new Form('password-form', ['username', 'password', 'new_password'], 'password.submit', 'password.busy');

form.onSubmit(checkPasswordChange, async (values) => {
  const result = await postJson('/api/password', values, lang());
  if (result.status === 200) {
    form.el.reset();
    form.setStatus({ key: 'password.done' });
  } else {
    form.showServerError(result);
  }
  return false;
});
