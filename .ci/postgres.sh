# shellcheck shell=bash
# Sourced by .ci/run: make a local PostgreSQL server available to the claim-history store tests.
#
#   source .ci/postgres.sh
#
# Installs the Debian package when missing, starts the cluster, creates the role `dexacode`
# and the database `dexacode_test`, and exports DEXACODE_TEST_PG_URL. Safe to run twice:
# every step first checks whether it is already done. Needs root (or passwordless sudo) the
# first time; when DEXACODE_TEST_PG_URL is already set it does nothing at all.
#
# On failure it prints one line and returns non-zero, so a `set -e` caller stops there: with
# CI=true the PostgreSQL store tests fail rather than skip, so a missing server is never silent.

_dexacode_pg_setup() {
    local password="dexacode-ci" user="dexacode" db="dexacode_test"
    local sudo="" version port

    if [ -n "${DEXACODE_TEST_PG_URL:-}" ]; then
        echo "postgres.sh: DEXACODE_TEST_PG_URL already set; using it"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "postgres.sh: need root or passwordless sudo to install/start PostgreSQL" >&2
            return 1
        fi
    fi

    # 1. Install (Debian/Ubuntu package) when no server binary is there.
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        echo "postgres.sh: installing PostgreSQL (apt-get)"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
            || { echo "postgres.sh: apt-get install postgresql failed" >&2; return 1; }
    fi
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"

    # 2. A cluster (the package normally creates "main"; containers sometimes skip it).
    port="$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
    if [ -z "$port" ]; then
        $sudo pg_createcluster "$version" main >/dev/null || return 1
        port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
    fi

    # 3. Start it unless it runs already (pg_ctlcluster start fails on a running cluster).
    if ! $sudo pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        $sudo pg_ctlcluster "$version" main start \
            || { echo "postgres.sh: could not start PostgreSQL $version" >&2; return 1; }
    fi
    local i
    for i in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$port" \
        || { echo "postgres.sh: PostgreSQL is not accepting connections" >&2; return 1; }

    # 4. Role and database, created once; the password is (re)set every time.
    _dexacode_psql() {
        (cd / && $sudo runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -tA "$@")
    }
    if [ "$(_dexacode_psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != "1" ]; then
        _dexacode_psql -c "CREATE ROLE $user LOGIN" || return 1
    fi
    _dexacode_psql -c "ALTER ROLE $user WITH LOGIN PASSWORD '$password'" || return 1
    if [ "$(_dexacode_psql -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
        _dexacode_psql -c "CREATE DATABASE $db OWNER $user" || return 1
    fi
    unset -f _dexacode_psql

    export DEXACODE_TEST_PG_URL="postgresql+psycopg://$user:$password@127.0.0.1:$port/$db"
    echo "postgres.sh: PostgreSQL $version ready on 127.0.0.1:$port (database $db)"
}

_dexacode_pg_setup
_dexacode_pg_status=$?
unset -f _dexacode_pg_setup
return "$_dexacode_pg_status" 2>/dev/null || exit "$_dexacode_pg_status"
