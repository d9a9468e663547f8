#!/usr/bin/env python3
"""SIGKILL -> the victim's kernel ends a TCP connection (docs/benchmarks.md, the crash hint, 2026-12-07).

A peer blocked in poll() on a connection to the victim's listener; CLOCK_MONOTONIC right before kill(2) and when poll
returns; then the time until the victim is reaped, its RSS and thread count. Each run starts a fresh victim.
usage: teardown.py RUNS PORT SETTLE_S -- victim command...
  C:        gcc -O2 -o /tmp/victim benchmarks/probes/teardown-victim.c && teardown.py 10 17901 0.5 -- /tmp/victim 17901
  TwoNode:  teardown.py 10 17411 4 -- dotnet TwoNode.Console.dll --node a --config appsettings.grpc.json
            --HaKit:StateDirectory=/tmp/s --HaKit:Nodes:0:Addresses:grpc0=127.0.0.1:17411 ... (its grpc0 listener; run it
            from the sample's bin directory, other ports moved off the defaults); settings as environment: X=1 env teardown.py ...
"""
import os, sys, socket, select, signal, subprocess, time, statistics
runs, port, settle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
cmd = sys.argv[sys.argv.index('--') + 1:]
res, reap, rss, thr = [], [], [], []
for i in range(runs):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 30
    s = None
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(('127.0.0.1', port), timeout=1); break
        except OSError:
            time.sleep(0.05)
    if s is None:
        p.kill(); p.wait(); sys.exit('victim never listened')
    time.sleep(settle)
    with open(f'/proc/{p.pid}/status') as f:
        st = dict(l.split(':', 1) for l in f if ':' in l)
    rss.append(int(st['VmRSS'].split()[0]) / 1024); thr.append(int(st['Threads']))
    vsz = int(st['VmSize'].split()[0]) / 1024
    po = select.poll(); po.register(s, select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
    os.kill(p.pid, signal.SIGKILL)
    ev = po.poll(5000)
    t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
    p.wait()
    t2 = time.clock_gettime(time.CLOCK_MONOTONIC)
    s.close()
    res.append((t1 - t0) * 1000); reap.append((t2 - t0) * 1000)
    print(f'run {i}: closed {res[-1]:.1f} ms, reaped {reap[-1]:.1f} ms, rss {rss[-1]:.0f} MB, vsz {vsz:.0f} MB, threads {thr[-1]} ev={ev}', flush=True)
    time.sleep(0.3)
q = sorted(res)
print(f'SUMMARY runs={runs} closed min {q[0]:.1f} median {statistics.median(q):.1f} max {q[-1]:.1f} ms; reaped median {statistics.median(reap):.1f}; rss median {statistics.median(rss):.0f} MB; threads median {statistics.median(thr):.0f}; load {open("/proc/loadavg").read().split()[0]}')
