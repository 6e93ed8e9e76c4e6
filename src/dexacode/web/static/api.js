// Talking to /v1 with the page's session, for every page's script: the session's CSRF
// token on each call, back to sign-in on a 401, and the server's Retry-After honoured
// when it asks the page to slow down (429, too many calls; 503, the store is busy).
"use strict";

window.dexacodeApi = (function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const WAIT_STATUSES = [429, 503];

  // fetch() with the session; a 401 sends the coder to sign in again (and throws).
  async function send(url, options) {
    const opts = options || {};
    const response = await fetch(url, {
      credentials: "same-origin",
      ...opts,
      headers: { "X-CSRF-Token": csrf, ...(opts.headers || {}) },
    });
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    return response;
  }

  // Seconds the server asks to wait before the next call, or null when it did not ask.
  // A 503 without Retry-After (the loaded CMS data cannot be read) is not a wait: waiting
  // cannot mend it, so its reason is shown instead.
  function waitAsked(response) {
    if (!WAIT_STATUSES.includes(response.status)) return null;
    const asked = response.headers.get("Retry-After");
    if (response.status === 503 && asked === null) return null;
    const seconds = Number(asked);
    return Number.isFinite(seconds) && seconds > 0 ? seconds : 1;
  }

  function waitWords(response, seconds) {
    const why = response.status === 503 ? "The claim-history store is busy" : "Too many calls for a moment";
    return `${why}; trying again in ${seconds} s.`;
  }

  async function bodyOf(response) {
    try {
      return await response.json();
    } catch (err) {
      return null;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The answer's JSON body; waits as long as the server asks and tries again, telling
  // onWait(words) each time. Any other refusal throws with the server's reason.
  async function json(url, options, onWait) {
    for (;;) {
      const response = await send(url, options);
      const seconds = waitAsked(response);
      if (seconds !== null) {
        if (onWait) onWait(waitWords(response, seconds));
        await sleep(seconds * 1000);
        continue;
      }
      const body = await bodyOf(response);
      if (!response.ok) throw new Error(body && body.reason ? body.reason : `the server answered ${response.status}`);
      return body;
    }
  }

  return { send, waitAsked, waitWords, bodyOf, json, sleep };
})();
