// The demo page: sign up through our API, sign in directly with Cognito, then call the API with
// the access token. The password goes to our API only in the sign-up POST; signing in talks to
// Cognito alone (amazon-cognito-identity-js), and the API only ever sees the token.
// When the server mounts the Hosted UI routes (config.hostedUi), the page also offers "Sign in
// with the Hosted UI": the server then keeps the session in HttpOnly cookies this script never
// sees, and the page asks the API whether it is signed in.
'use strict';

(function () {
  const Cognito = window.AmazonCognitoIdentity;
  const $ = (id) => document.getElementById(id);

  const SIGNUP_FIELDS = ['name', 'email', 'password'];
  const SIGN_IN_ERRORS = {
    NotAuthorizedException: 'Incorrect email or password.',
    UserNotFoundException: 'Incorrect email or password.',
    UserNotConfirmedException: 'This account is not confirmed yet.',
    PasswordResetRequiredException: 'This account needs a password reset.',
    TooManyRequestsException: 'Too many attempts; wait a moment and try again.',
    LimitExceededException: 'Too many attempts; wait a moment and try again.',
    NetworkError: 'Cannot reach Cognito; check your connection and try again.',
  };

  const SIGNED_IN_HOW = {
    sdk: 'Your browser signed in with Cognito; the API checked your access token and returned ' +
      'your record:',
    hosted: 'You signed in through the Hosted UI; the API checked the access token of your ' +
      'session cookie and returned your record:',
  };

  let config = null;
  let pool = null;
  // How the page is signed in: 'sdk' (tokens kept by the Cognito SDK in this browser) or
  // 'hosted' (the server's Hosted UI session); null when signed out.
  let signedInWith = null;

  function show(element, visible) {
    element.hidden = !visible;
  }

  function setText(id, text) {
    const element = $(id);
    element.textContent = text || '';
    show(element, Boolean(text));
  }

  function notice(text) {
    setText('notice', text);
  }

  function busy(button, isBusy, label) {
    button.disabled = isBusy;
    if (label) {
      button.textContent = label;
    }
  }

  function showSignedOut(message) {
    signedInWith = null;
    show($('loading'), false);
    show($('signed-in'), false);
    show($('signed-out'), true);
    notice(message);
  }

  function showRecord(record, how) {
    signedInWith = how;
    show($('loading'), false);
    show($('signed-out'), false);
    notice('');
    $('signed-in-how').textContent = SIGNED_IN_HOW[how];
    $('greeting-name').textContent = record.name;
    $('record-name').textContent = record.name;
    $('record-email').textContent = record.email;
    $('record-id').textContent = record.id;
    const created = new Date(record.created_at);
    const createdCell = $('record-created');
    createdCell.textContent = isNaN(created) ? String(record.created_at) : created.toLocaleString();
    createdCell.title = String(record.created_at);
    show($('signed-in'), true);
  }

  // --- Cognito session -------------------------------------------------------------------

  // The session of the user signed in on this browser, refreshed with the refresh token when
  // the access token has expired; null when there is none or it cannot be refreshed.
  function currentSession() {
    const user = pool.getCurrentUser();
    if (!user) {
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      user.getSession((error, session) => {
        if (error || !session || !session.isValid()) {
          user.signOut();
          resolve(null);
        } else {
          resolve({ user, session });
        }
      });
    });
  }

  function signIn(email, password) {
    const user = new Cognito.CognitoUser({ Username: email, Pool: pool });
    user.setAuthenticationFlowType(config.authFlow);
    const details = new Cognito.AuthenticationDetails({ Username: email, Password: password });
    return new Promise((resolve, reject) => {
      user.authenticateUser(details, {
        onSuccess: (session) => resolve({ user, session }),
        onFailure: (error) => reject(error),
        newPasswordRequired: () => {
          const error = new Error('This account must set a new password before signing in.');
          error.code = 'NewPasswordRequired';
          reject(error);
        },
      });
    });
  }

  function signOut(user) {
    return new Promise((resolve) => {
      if (config.revokeOnSignOut) {
        // Revokes the refresh token at Cognito, then forgets the tokens kept in this browser.
        user.signOut(() => resolve());
      } else {
        user.signOut();
        resolve();
      }
    });
  }

  // --- Our API ---------------------------------------------------------------------------

  async function loadRecord(session) {
    const response = await fetch('accounts/me', {
      headers: { Authorization: 'Bearer ' + session.getAccessToken().getJwtToken() },
      cache: 'no-store',
    });
    if (response.status === 401) {
      return null;
    }
    if (!response.ok) {
      throw new Error('The API answered ' + response.status + '.');
    }
    return response.json();
  }

  async function showSession(found) {
    const record = await loadRecord(found.session);
    if (record === null) {
      found.user.signOut();
      showSignedOut('Your session has expired. Please sign in again.');
      return;
    }
    showRecord(record, 'sdk');
  }

  // --- The Hosted UI session ---------------------------------------------------------------

  // The session's tokens are in HttpOnly cookies: only the API can tell whether there is one
  // (and renews it when its access token has expired). 401: no session; 404: a session whose
  // user has no record on this site.
  async function loadHostedRecord() {
    const response = await fetch('accounts/me', {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (response.status === 401) {
      return { signedIn: false, record: null };
    }
    if (response.status === 404) {
      return { signedIn: true, record: null };
    }
    if (!response.ok) {
      throw new Error('The API answered ' + response.status + '.');
    }
    return { signedIn: true, record: await response.json() };
  }

  async function showHostedSession() {
    const found = await loadHostedRecord();
    if (!found.signedIn) {
      showSignedOut('');
      return;
    }
    if (found.record === null) {
      showSignedOut(
        'You signed in through the Hosted UI, but this site has no account for that user. ' +
          'Sign out of the Hosted UI, then create an account here.',
      );
      show($('hosted-ui-signin'), false);
      show($('hosted-ui-hint'), false);
      show($('hosted-ui-signout'), true);
      return;
    }
    showRecord(found.record, 'hosted');
  }

  function clearSignupErrors() {
    setText('signup-error', '');
    for (const field of SIGNUP_FIELDS) {
      setText('signup-' + field + '-error', '');
      $('signup-' + field).removeAttribute('aria-invalid');
    }
  }

  // The API's field messages read "is not a valid email address"; Cognito's policy messages
  // are whole sentences. Either way, show a sentence.
  function sentence(label, message) {
    let text = String(message).trim();
    if (/^[a-z]/.test(text)) {
      text = label ? label + ' ' + text : text.charAt(0).toUpperCase() + text.slice(1);
    }
    return /[.!?]$/.test(text) ? text : text + '.';
  }

  function fieldError(field, message) {
    const input = $('signup-' + field);
    if (!input) {
      return false;
    }
    const label = document.querySelector('label[for="signup-' + field + '"]');
    setText('signup-' + field + '-error', sentence(label ? label.textContent : field, message));
    input.setAttribute('aria-invalid', 'true');
    return true;
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return {};
    }
  }

  async function signUp(event) {
    event.preventDefault();
    clearSignupErrors();
    const button = $('signup-submit');
    const body = {
      name: $('signup-name').value.trim(),
      email: $('signup-email').value.trim(),
      password: $('signup-password').value,
    };
    busy(button, true, 'Creating account…');
    try {
      const response = await fetch('accounts', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      const data = await readJson(response);
      if (response.status === 201) {
        $('signup-form').reset();
        $('signin-email').value = data.email || body.email;
        $('signin-password').value = '';
        notice('Account created for ' + (data.email || body.email) + '. You can sign in now.');
        $('signin-password').focus();
        return;
      }
      if (response.status === 409) {
        const message = 'An account with this email already exists. Sign in instead?';
        fieldError('email', message);
        return;
      }
      const fields = data && typeof data.fields === 'object' && data.fields ? data.fields : {};
      let shown = false;
      for (const [field, message] of Object.entries(fields)) {
        shown = fieldError(field, String(message)) || shown;
      }
      if (!shown) {
        const detail =
          typeof data.error_description === 'string' ? sentence('', data.error_description) : '';
        setText(
          'signup-error',
          response.status === 429
            ? 'Too many attempts; wait a minute and try again.'
            : detail || 'The account could not be created (' + response.status + ').',
        );
      }
    } catch (error) {
      setText('signup-error', 'Cannot reach the server; check your connection and try again.');
    } finally {
      busy(button, false, 'Create account');
    }
  }

  async function submitSignIn(event) {
    event.preventDefault();
    setText('signin-error', '');
    notice('');
    const email = $('signin-email').value.trim();
    const password = $('signin-password').value;
    if (!email || !password) {
      setText('signin-error', 'Enter your email and password.');
      return;
    }
    const button = $('signin-submit');
    busy(button, true, 'Signing in…');
    try {
      const found = await signIn(email, password);
      $('signin-form').reset();
      await showSession(found);
    } catch (error) {
      const code = error && (error.code || error.name);
      setText('signin-error', SIGN_IN_ERRORS[code] || (error && error.message) || 'Sign-in failed.');
    } finally {
      busy(button, false, 'Sign in');
    }
  }

  async function submitSignOut() {
    if (signedInWith === 'hosted') {
      // A plain form POST: the server checks its Origin (CSRF), clears the cookies, revokes the
      // refresh token and sends the browser through the Hosted UI's sign-out back to this page.
      busy($('signout'), true, 'Signing out…');
      $('hosted-ui-signout').submit();
      return;
    }
    const found = await currentSession();
    if (found) {
      await signOut(found.user);
    }
    showSignedOut('You are signed out.');
    $('signin-email').focus();
  }

  async function start() {
    if (!Cognito) {
      $('loading').textContent = 'The Cognito SDK did not load (run npm ci in examples/static_site).';
      return;
    }
    try {
      const response = await fetch('config.json', { cache: 'no-store' });
      config = await response.json();
    } catch (error) {
      $('loading').textContent = 'Cannot load the page settings (config.json).';
      return;
    }
    const options = { UserPoolId: config.userPoolId, ClientId: config.clientId };
    if (config.endpoint) {
      options.endpoint = new URL(config.endpoint, window.location.href).href;
    }
    pool = new Cognito.CognitoUserPool(options);
    $('footer').textContent = config.emulator
      ? 'Cognito: local emulator, pool ' + config.userPoolId
      : 'Cognito: AWS ' + config.region + ', pool ' + config.userPoolId;

    $('signup-form').addEventListener('submit', signUp);
    $('signin-form').addEventListener('submit', submitSignIn);
    $('signout').addEventListener('click', submitSignOut);
    if (config.hostedUi) {
      $('hosted-ui-signin').href = config.hostedUi.login;
      $('hosted-ui-signout').action = config.hostedUi.logout;
      show($('hosted-ui'), true);
    }

    try {
      const found = await currentSession();
      if (found) {
        await showSession(found);
      } else if (config.hostedUi) {
        await showHostedSession();
      } else {
        showSignedOut('');
      }
    } catch (error) {
      showSignedOut('Could not restore your session. Please sign in again.');
    }
  }

  start();
})();
