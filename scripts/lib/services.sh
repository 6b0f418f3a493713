# shellcheck shell=bash
#
# Local PostgreSQL and RabbitMQ for agent-runner, without Docker or systemd.
#
# Source this file, then call:
#   ensure_postgres   install (apt) if missing, start if stopped, create role + database
#   ensure_rabbitmq   install (apt) if missing, start if stopped, enable the management
#                     plugin, apply deploy/rabbitmq/rabbitmq.conf (consumer_timeout at runtime)
#   ensure_build_tools  check for cargo, install a C compiler (apt) if missing
#   ensure_chromium   install (apt) Chromium and its chromedriver for the console's browser tests
#
# Every step checks before it acts, so a second call on a healthy machine changes nothing.
# Progress goes to stderr; stdout stays free for callers.

# Repository root (this file lives in scripts/lib/).
AR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AR_RABBITMQ_CONF="$AR_ROOT/deploy/rabbitmq/rabbitmq.conf"

# rabbitmq-server, rabbitmqctl and runuser live in /usr/sbin, which a non-root user's PATH
# on Debian lacks.
for _ar_dir in /usr/local/sbin /usr/sbin /sbin; do
	[[ :$PATH: == *:"$_ar_dir":* ]] || PATH=$PATH:$_ar_dir
done
unset _ar_dir

# Seconds to wait for a service to become ready after starting it.
: "${AR_SERVICE_TIMEOUT_S:=60}"

# Defaults the api, the workers and the scripts share; values already set win.
: "${DATABASE_URL:=postgres://agent_runner:agent_runner@127.0.0.1:5432/agent_runner}"
: "${AMQP_URL:=amqp://guest:guest@127.0.0.1:5672/%2f}"
: "${RABBITMQ_MGMT_URL:=http://127.0.0.1:15672}"
export DATABASE_URL AMQP_URL RABBITMQ_MGMT_URL

log() { printf '%s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -- "$@"
	else
		die "'$*' needs root; run as root or install sudo"
	fi
}

# Run a command as the postgres OS user (peer authentication on the local socket works
# on a fresh Debian install, where TCP connections need a password). Runs from / so the
# postgres user never trips over an unreadable working directory.
as_postgres() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	elif command -v sudo >/dev/null 2>&1; then
		(cd / && sudo -u postgres -- "$@")
	else
		# Last resort: works where 127.0.0.1 uses trust authentication.
		PGHOST=127.0.0.1 PGUSER=postgres "$@"
	fi
}

# psql as the superuser against the maintenance database, stopping at the first error.
admin_psql() {
	as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
}

_AR_APT_UPDATED=0
apt_install() {
	command -v apt-get >/dev/null 2>&1 ||
		die "apt-get not found: install $* with your system's package manager"
	if [[ $_AR_APT_UPDATED -eq 0 ]]; then
		log "apt: updating package lists"
		as_root apt-get update -qq >&2 || die "apt-get update failed"
		_AR_APT_UPDATED=1
	fi
	# dpkg's progress (hundreds of lines) goes to a log, shown only when the install fails.
	local apt_log
	apt_log=$(mktemp "${TMPDIR:-/tmp}/agent-runner-apt.XXXXXX.log")
	log "apt: installing $*"
	if ! as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >"$apt_log" 2>&1; then
		tail -n 40 "$apt_log" >&2
		die "apt-get install $* failed (full output in $apt_log)"
	fi
	rm -f "$apt_log"
}

# curl and python3 are used by the scripts for HTTP and JSON; python3's venv module by
# scripts/validate-deploy.
ensure_tools() {
	local missing=()
	command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
	if ! command -v python3 >/dev/null 2>&1; then
		missing+=(python3 python3-venv)
	elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
		missing+=(python3-venv)
	fi
	# bwrap: the namespaces layer of the workers' command sandbox (docs/llm-agent.md).
	command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
	if [[ ${#missing[@]} -gt 0 ]]; then
		apt_install "${missing[@]}"
	fi
}

# What building needs besides a Rust toolchain: rustc links with the system's C compiler
# (`cc`), which also builds ring's C and assembly parts. rustup itself is the one thing
# the scripts do not install.
ensure_build_tools() {
	command -v cargo >/dev/null 2>&1 ||
		die "cargo not found: install a Rust toolchain from https://rustup.rs, then rerun"
	command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
}

# The console's browser tests (tests/console) drive Debian's headless Chromium through
# chromedriver, at the paths the Debian packages use.
ensure_chromium() {
	if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
		apt_install chromium chromium-driver
	fi
	log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'installed'), chromedriver at /usr/bin/chromedriver"
}

# wait_until DESCRIPTION TIMEOUT_S COMMAND...: retry COMMAND every half second.
wait_until() {
	local what=$1 timeout_s=$2
	shift 2
	local deadline=$((SECONDS + timeout_s))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "error: timed out after ${timeout_s}s waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}

# --- PostgreSQL --------------------------------------------------------------------------

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 -t 2; }

# Newest installed server version (e.g. 15), or nothing.
pg_installed_version() {
	local dir
	dir=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
		sort -V | tail -n 1)
	printf '%s' "$dir"
}

pg_start() {
	local version
	version=$(pg_installed_version)
	if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n $version ]]; then
		if [[ ! -d /etc/postgresql/$version/main ]]; then
			log "postgres: creating cluster $version/main"
			as_root pg_createcluster "$version" main >&2 ||
				die "pg_createcluster $version main failed"
		fi
		log "postgres: starting cluster $version/main"
		if as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2; then
			return 0
		fi
		log "postgres: pg_ctlcluster could not start it; trying 'service postgresql start'"
	fi
	if command -v service >/dev/null 2>&1; then
		as_root service postgresql start >&2 && return 0
	fi
	die "could not start PostgreSQL; see /var/log/postgresql/ and docs/local-setup.md"
}

ensure_postgres() {
	ensure_tools
	if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
		apt_install postgresql postgresql-client
	fi

	if pg_ready; then
		log "postgres: running on 127.0.0.1:5432"
	else
		pg_start
		wait_until "PostgreSQL on 127.0.0.1:5432" "$AR_SERVICE_TIMEOUT_S" pg_ready ||
			die "PostgreSQL did not become ready; see /var/log/postgresql/ (is port 5432 taken?)"
		log "postgres: started on 127.0.0.1:5432"
	fi

	# Role and database. The password makes the URL work where 127.0.0.1 uses scram
	# (a fresh Debian install); trust authentication ignores it. CREATEDB lets the test
	# suite create one database per test.
	local state
	state=$(admin_psql -At -c "
		SELECT coalesce((SELECT CASE WHEN rolcanlogin AND rolcreatedb AND rolpassword IS NOT NULL
		                             THEN 'ok' ELSE 'fix' END
		                 FROM pg_authid WHERE rolname = 'agent_runner'), 'missing')
		    || ' ' ||
		       CASE WHEN EXISTS (SELECT 1 FROM pg_database WHERE datname = 'agent_runner')
		            THEN 'ok' ELSE 'missing' END") ||
		die "could not query PostgreSQL as the postgres superuser"

	case ${state% *} in
	ok) ;;
	missing)
		admin_psql -c "CREATE ROLE agent_runner LOGIN CREATEDB PASSWORD 'agent_runner'" ||
			die "could not create role agent_runner"
		log "postgres: created role agent_runner"
		;;
	*)
		admin_psql -c "ALTER ROLE agent_runner LOGIN CREATEDB PASSWORD 'agent_runner'" ||
			die "could not update role agent_runner"
		log "postgres: updated role agent_runner (LOGIN CREATEDB, password)"
		;;
	esac

	if [[ ${state#* } != ok ]]; then
		admin_psql -c "CREATE DATABASE agent_runner OWNER agent_runner" ||
			die "could not create database agent_runner"
		log "postgres: created database agent_runner"
	fi
	log "postgres: role and database agent_runner ready"
}

# --- RabbitMQ ----------------------------------------------------------------------------

rabbit_ping() { as_root rabbitmq-diagnostics -q ping; }

amqp_port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

mgmt_ready() {
	curl -fsS -o /dev/null --max-time 3 -u guest:guest "$RABBITMQ_MGMT_URL/api/overview" 2>/dev/null
}

rabbit_start() {
	log "rabbitmq: starting the node"
	if as_root rabbitmq-server -detached >&2; then
		return 0
	fi
	log "rabbitmq: 'rabbitmq-server -detached' failed; trying 'service rabbitmq-server start'"
	if command -v service >/dev/null 2>&1; then
		as_root service rabbitmq-server start >&2 && return 0
	fi
	die "could not start RabbitMQ; see /var/log/rabbitmq/ and docs/local-setup.md"
}

# consumer_timeout (ms) from our shipped config.
rabbit_conf_consumer_timeout() {
	sed -n 's/^[[:space:]]*consumer_timeout[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
		"$AR_RABBITMQ_CONF" | tail -n 1
}

ensure_rabbitmq() {
	ensure_tools
	[[ -f $AR_RABBITMQ_CONF ]] || die "missing $AR_RABBITMQ_CONF"
	if ! command -v rabbitmq-server >/dev/null 2>&1; then
		apt_install rabbitmq-server
	fi

	# Ship our config on a machine that has none (it takes effect at the next node start;
	# consumer_timeout is also applied at runtime below). A development node listens on
	# the loopback interface only, as the Debian PostgreSQL does.
	local conf_written=0
	if ! as_root test -e /etc/rabbitmq/rabbitmq.conf; then
		{
			cat "$AR_RABBITMQ_CONF"
			printf '\n# Added by the agent-runner scripts: AMQP and the management UI on loopback only.\n'
			printf 'listeners.tcp.default = 127.0.0.1:5672\nmanagement.tcp.ip = 127.0.0.1\n'
		} | as_root install -D -m 0644 /dev/stdin /etc/rabbitmq/rabbitmq.conf ||
			die "could not write /etc/rabbitmq/rabbitmq.conf"
		log "rabbitmq: installed deploy/rabbitmq/rabbitmq.conf (listening on loopback only) as /etc/rabbitmq/rabbitmq.conf"
		conf_written=1
	fi

	# A node the package's init system started before the config was there runs with
	# the defaults (listening on every interface): restart it to apply the config.
	if [[ $conf_written -eq 1 ]] && rabbit_ping >/dev/null 2>&1; then
		log "rabbitmq: restarting the node to apply /etc/rabbitmq/rabbitmq.conf"
		as_root rabbitmqctl -q stop >&2 || die "rabbitmqctl stop failed"
	fi

	if rabbit_ping >/dev/null 2>&1; then
		log "rabbitmq: running on 127.0.0.1:5672"
	else
		rabbit_start
		wait_until "the RabbitMQ node" "$AR_SERVICE_TIMEOUT_S" rabbit_ping ||
			die "RabbitMQ did not start; see /var/log/rabbitmq/ (is port 5672 or 25672 taken? does the hostname resolve, see /etc/hosts?)"
		as_root rabbitmqctl -q await_startup >/dev/null 2>&1 || true
		log "rabbitmq: started"
	fi
	wait_until "AMQP on 127.0.0.1:5672" "$AR_SERVICE_TIMEOUT_S" amqp_port_open ||
		die "RabbitMQ runs but nothing listens on 127.0.0.1:5672; check /etc/rabbitmq/rabbitmq.conf"

	# Management UI and HTTP API on 15672: the place to watch queues, consumers, messages.
	if mgmt_ready; then
		log "rabbitmq: management UI on $RABBITMQ_MGMT_URL"
	else
		log "rabbitmq: enabling the management plugin"
		local out
		out=$(as_root rabbitmq-plugins -q enable rabbitmq_management 2>&1) || {
			log "$out"
			die "rabbitmq-plugins enable rabbitmq_management failed"
		}
		wait_until "the management API on $RABBITMQ_MGMT_URL (guest/guest)" \
			"$AR_SERVICE_TIMEOUT_S" mgmt_ready ||
			die "the management plugin does not answer on $RABBITMQ_MGMT_URL (is port 15672 taken?)"
		log "rabbitmq: management UI on $RABBITMQ_MGMT_URL"
	fi

	# A worker holds a delivery unacked for the whole run; RabbitMQ closes the channel when
	# an ack is later than consumer_timeout. Set it at runtime so no restart is needed.
	local timeout_ms result
	timeout_ms=$(rabbit_conf_consumer_timeout)
	[[ -n $timeout_ms ]] || die "no consumer_timeout in $AR_RABBITMQ_CONF"
	result=$(as_root rabbitmqctl -q eval "
		case application:get_env(rabbit, consumer_timeout) of
			{ok, $timeout_ms} -> unchanged;
			_ -> ok = application:set_env(rabbit, consumer_timeout, $timeout_ms), changed
		end.") || die "could not set consumer_timeout with rabbitmqctl eval"
	if [[ $result != changed ]]; then
		log "rabbitmq: consumer_timeout is ${timeout_ms} ms"
		return 0
	fi
	log "rabbitmq: consumer_timeout set to ${timeout_ms} ms (runtime)"
	if ! as_root grep -Eq '^[[:space:]]*consumer_timeout[[:space:]]*=' /etc/rabbitmq/rabbitmq.conf; then
		log "rabbitmq: note: /etc/rabbitmq/rabbitmq.conf sets no consumer_timeout, so a node" \
			"restart reverts it; rerun scripts/services-up after one, or add" \
			"'consumer_timeout = $timeout_ms' to that file"
	fi
}
