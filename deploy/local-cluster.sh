#!/usr/bin/env bash
# A multi-process MInference cluster on this machine: one redis-server and N silo processes on
# loopback, Redis clustering and job storage, logs and pids under a state folder.
#
#   deploy/local-cluster.sh start [N]     start redis-server and N silos (default 2)
#   deploy/local-cluster.sh status        which processes run, the devices the cluster knows
#   deploy/local-cluster.sh stop          stop the silos gracefully (they drain), then redis-server
#
# Environment: MINFERENCE_LOCAL_STATE (state folder, default .cache/local-cluster in the repository),
# MINFERENCE_REDIS_PORT (6390), MINFERENCE_SILO_PORT (11111; silo i uses +i),
# MINFERENCE_GATEWAY_PORT (30000; silo i uses +i), MINFERENCE_CPU_DEVICES (1 per silo),
# MINFERENCE_CONFIGURATION (Release). Needs redis-server (Debian: apt-get install redis-server).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${MINFERENCE_LOCAL_STATE:-$repo/.cache/local-cluster}
redis_port=${MINFERENCE_REDIS_PORT:-6390}
silo_port=${MINFERENCE_SILO_PORT:-11111}
gateway_port=${MINFERENCE_GATEWAY_PORT:-30000}
cpu_devices=${MINFERENCE_CPU_DEVICES:-1}
configuration=${MINFERENCE_CONFIGURATION:-Release}
silo_dll=$repo/silo/MInference.Silo/bin/$configuration/net10.0/MInference.Silo.dll
ready_marker="is ready with"
start_timeout=120

running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    local count=${1:-2}
    [[ "$count" =~ ^[1-9][0-9]?$ ]] || { echo "silo count '$count' must be between 1 and 99" >&2; exit 2; }
    command -v redis-server >/dev/null || { echo "redis-server is not installed (Debian: apt-get install -y redis-server)" >&2; exit 1; }
    mkdir -p "$state"
    if running "$state/redis.pid" || compgen -G "$state/silo*.pid" >/dev/null; then
        echo "a local cluster is already running from $state; run '$0 stop' first" >&2
        exit 1
    fi

    echo "== building the silo ($configuration)"
    dotnet build "$repo/silo/MInference.Silo" -c "$configuration" -v quiet -nologo >/dev/null

    echo "== redis-server on 127.0.0.1:$redis_port (appendonly: jobs survive a restart of the cluster)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$state" --appendonly yes --save '' \
        --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

    local i
    for ((i = 0; i < count; i++)); do
        local name="silo$i"
        nohup dotnet "$silo_dll" \
            --MInference:SiloName="$name" \
            --MInference:Clustering=Redis \
            --MInference:RedisConnectionString="127.0.0.1:$redis_port" \
            --MInference:AdvertisedAddress=127.0.0.1 \
            --MInference:SiloPort=$((silo_port + i)) \
            --MInference:GatewayPort=$((gateway_port + i)) \
            --MInference:CpuDevices="$cpu_devices" \
            >"$state/$name.log" 2>&1 &
        echo $! >"$state/$name.pid"
        echo "== $name: silo port $((silo_port + i)), gateway $((gateway_port + i)), log $state/$name.log"
    done

    for ((i = 0; i < count; i++)); do
        local name="silo$i" waited=0
        until grep -q "$ready_marker" "$state/$name.log"; do
            if ! running "$state/$name.pid"; then
                echo "$name exited; its log:" >&2; tail -30 "$state/$name.log" >&2; exit 1
            fi
            if ((waited++ > start_timeout * 2)); then
                echo "$name did not get ready in ${start_timeout}s; see $state/$name.log" >&2; exit 1
            fi
            sleep 0.5
        done
        grep -m1 "$ready_marker" "$state/$name.log" | sed 's/^ */   /'
    done

    cat <<USAGE

The cluster is up. Submit the generated document through silo0's gateway:
  dotnet run --project $repo/client/MInference.Cli -c $configuration -- submit --gateway-port $gateway_port
or your own text with a model directory every silo can read:
  dotnet run --project $repo/client/MInference.Cli -c $configuration -- submit FILE --model DIR --gateway-port $gateway_port
Watch:  $0 status     (and the logs in $state)
Stop:   $0 stop
USAGE
}

stop() {
    local pidfile
    for pidfile in "$state"/silo*.pid; do
        [[ -f "$pidfile" ]] || continue
        if running "$pidfile"; then
            # SIGTERM: the silo withdraws its devices, drains its jobs (MInference:DrainTimeout), leaves the cluster.
            kill -TERM "$(cat "$pidfile")"
        fi
    done
    for pidfile in "$state"/silo*.pid; do
        [[ -f "$pidfile" ]] || continue
        local pid waited=0
        pid=$(cat "$pidfile")
        while kill -0 "$pid" 2>/dev/null && ((waited++ < 240)); do sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { echo "$(basename "$pidfile" .pid) did not stop in 120 s; killing it"; kill -KILL "$pid"; }
        rm -f "$pidfile"
        echo "== $(basename "$pidfile" .pid) stopped"
    done
    if running "$state/redis.pid"; then
        redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || kill -TERM "$(cat "$state/redis.pid")"
        echo "== redis-server stopped (data kept in $state)"
    fi
    rm -f "$state/redis.pid"
}

status() {
    local pidfile
    if running "$state/redis.pid"; then echo "redis-server: running (127.0.0.1:$redis_port)"; else echo "redis-server: not running"; fi
    for pidfile in "$state"/silo*.pid; do
        [[ -f "$pidfile" ]] || continue
        if running "$pidfile"; then echo "$(basename "$pidfile" .pid): running (pid $(cat "$pidfile"))"; else echo "$(basename "$pidfile" .pid): exited"; fi
    done
    if running "$state/redis.pid"; then
        echo "membership (from Redis; status 3 = active, 6 = dead):"
        redis-cli -p "$redis_port" --raw keys '*/members/*' | while read -r key; do
            redis-cli -p "$redis_port" --raw hvals "$key" | grep '"SiloName"' \
                | sed -E 's/.*"SiloAddress":"([^"]*)".*"Status":([0-9]+).*"SiloName":"([^"]*)".*/  \3 \1 status \2/'
        done
    fi
}

case "${1:-}" in
    start) start "${2:-2}" ;;
    stop) stop ;;
    status) status ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
