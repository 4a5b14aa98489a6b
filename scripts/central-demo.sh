#!/usr/bin/env bash
# Central with a fleet: Mosquitto on 127.0.0.1:18830, one real demo classroom
# (`classroomd run --demo`), N simulated classrooms, and `classroomd central run`
# on SQLite in a temporary directory. Usage: central-demo.sh [N simulated classrooms, default 100:
# 50 schools of 2], with devices failing and classrooms dropping off now and then.
set -euo pipefail
cd "$(dirname "$0")/.."
rooms=${1:-100}
bash scripts/bootstrap.sh demo
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  # Central needs MQTT 5 shared subscriptions, which amqtt does not have: install Mosquitto (its own
  # instance runs on a port of the demo's; Debian's service on 1883 is left as it is).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
  else
    echo "central's demo needs Mosquitto: apt-get install -y --no-install-recommends mosquitto" >&2
    exit 1
  fi
fi
work=$(mktemp -d)
port=18830
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
[ "$(id -u)" = 0 ] && echo "user root" >> "$work/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
sleep 0.5

password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
echo "$password" | .venv/bin/classroomd central account admin --role admin --password-stdin --state-dir "$work/central"
.venv/bin/classroomd central run --broker "mqtt://127.0.0.1:$port" --http 127.0.0.1:8090 \
  --state-dir "$work/central" --log-level WARNING &
pids+=($!)
XDG_STATE_HOME="$work/agent" .venv/bin/classroomd run --demo --broker "mqtt://127.0.0.1:$port" \
  --http 127.0.0.1:8081 --log-level WARNING >"$work/agent.log" 2>&1 &
pids+=($!)
.venv/bin/classroomd central simulate --classrooms "$rooms" --broker "mqtt://127.0.0.1:$port" \
  --health-interval 10 --event-interval 5 --churn 4 &
pids+=($!)

cat <<INFO

classroomd central demo: 1 demo classroom + $rooms simulated, broker mqtt://127.0.0.1:$port
  dashboard   http://127.0.0.1:8090/   sign in as admin, password $password
  classrooms  curl -s http://127.0.0.1:8090/api/v1/classrooms
  alerts      curl -s http://127.0.0.1:8090/api/v1/alerts
  inventory   curl -s http://127.0.0.1:8090/api/v1/inventory.csv
  usage       curl -s http://127.0.0.1:8090/api/v1/usage
  ack         curl -s -X POST -H "Authorization: Bearer \$(cat $work/central/token)" \\
                -d '{"by": "me", "note": "seen"}' http://127.0.0.1:8090/api/v1/alerts/ID/ack
  watch       mosquitto_sub -p $port -v -t 'classroom/#'
Stop with Ctrl+C.
INFO
wait
