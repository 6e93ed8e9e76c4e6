# shellcheck shell=bash
# Sourced by .ci/run: Debian's Chromium for the worksheet's end-to-end tests (Playwright
# drives it headless; no browser is downloaded). Safe to run twice: it installs only what is
# missing. On failure it prints one line and returns non-zero, so a `set -e` caller stops;
# with CI=true the browser tests fail rather than skip, so a missing browser is never silent.

_dexacode_browser_setup() {
    local sudo=""
    if command -v chromium >/dev/null 2>&1; then
        echo "browser.sh: $(chromium --version 2>/dev/null | head -n 1)"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "browser.sh: need root or passwordless sudo to install chromium" >&2
            return 1
        fi
    fi
    echo "browser.sh: installing chromium (apt-get)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || { echo "browser.sh: apt-get install chromium failed" >&2; return 1; }
    command -v chromium >/dev/null 2>&1 || { echo "browser.sh: chromium missing after install" >&2; return 1; }
}

_dexacode_browser_setup
