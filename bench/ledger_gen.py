#!/usr/bin/env python3
"""bench/ledger_gen.py: the generated ledger of the `ledger` bench part (bench/ledger.mjs).

  ledger_gen.py find PERSIST_DIR
      prints the path of the SQLite file under PERSIST_DIR that holds the worker's `ledger`
  ledger_gen.py generate DB --rows N --seed S --now-ms T [--days 30] [--tz Asia/Shanghai]
      inserts N seeded rows with the worker's own INSERT (worker/core/src/ledger.rs) in a few
      transactions, so the worker's triggers build ledger_daily/ledger_hourly as in production,
      then rates some rows with the worker's UPDATE (the feedback trigger); prints JSON: the
      timings, the rollup row counts and the totals computed here from the generated rows
  ledger_gen.py direct DB --from DAY --to DAY --month-start DAY
      times the overview's statements on the rollups (this month, and a 30-day month) and the
      same aggregates straight on `ledger`

Only the standard library (the system python3 with sqlite3). Deterministic for a seed and an
end instant (--now-ms): the same rows, the same totals.
"""
import argparse
import json
import os
import random
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - python < 3.9
    ZoneInfo = None

# The worker's INSERT, column for column (worker/core/src/ledger.rs `INSERT`).
INSERT = (
    "INSERT OR IGNORE INTO ledger (id, ts_ms, day, user, credential, upstream, "
    "key_id, model_asked, model_used, route, route_reason, prompt_tokens, completion_tokens, "
    "cached_tokens, cost_micro_usd, status, ending, ttfb_ms, total_ms, estimated, attempts, stream, "
    "reasoning_tokens, tools, tool_args, dept, tier) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
    "?21, ?22, ?23, ?24, ?25, ?26, ?27)"
)
# The worker's rating (worker/src/ledger_d1.rs `rate`).
RATE = "UPDATE ledger SET feedback = ?1 WHERE id = ?2 AND user = ?3"

# (model, share, USD per 1M input, output, cached input): the built-in list prices
# (worker/core/src/config/defaults.rs), five of the six models.
MODELS = [
    ("gpt-4o-mini", 40, 0.15, 0.60, 0.075),
    ("gpt-4.1-mini", 25, 0.40, 1.60, 0.10),
    ("gpt-4o", 15, 2.50, 10.00, 1.25),
    ("gpt-4.1", 10, 2.00, 8.00, 0.50),
    ("o4-mini", 10, 1.10, 4.40, 0.275),
]
ROUTES = [("general", 40), ("code", 25), ("writing", 15), ("translate", 10), ("summarize", 10)]
ENDINGS = [("completed", 885), ("client_aborted", 40), ("cached", 35), ("failed", 25), ("abandoned", 15)]
FAILED = ("failed", "upstream_cut", "upstream_error")  # rollup.rs FAILED
TIERS = [("staff", 80), ("power", 15), ("guest", 5)]
KEY_IDS = ["key_1a2b3c4d", "key_5e6f7a8b", "key_9c0d1e2f"]
# Share of the day's requests by local hour (an office: 9-12 and 14-18 busy, nights quiet).
HOURS = [1, 1, 1, 1, 1, 1, 2, 4, 10, 16, 18, 16, 8, 10, 17, 18, 16, 12, 6, 5, 4, 3, 2, 1]
# By weekday (Monday first): weekends are quiet.
WEEKDAYS = [10, 10, 10, 10, 9, 3, 2]
DAY_MS = 86_400_000
FIELDS = ["requests", "failed", "cache_hits", "prompt_tokens", "completion_tokens", "cached_tokens",
          "reasoning_tokens", "cost_micro_usd", "rated_up", "rated_down"]


def zone_of(name):
    if ZoneInfo is not None:
        return ZoneInfo(name)
    if name == "Asia/Shanghai":
        return timezone(timedelta(hours=8))
    raise SystemExit(f"no zoneinfo for {name}")


def local_day(ts_ms, zone):
    return datetime.fromtimestamp(ts_ms / 1000, zone).date()


def day_start_ms(day, zone):
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def cost(model, prompt, completion, cached):
    _, _, inp, out, cin = model
    # USD per 1M tokens = micro-USD per token (worker: Price::cost_micro_usd).
    return round((prompt - cached) * inp + cached * cin + completion * out)


def find(persist):
    found = []
    for root, _dirs, files in os.walk(persist):
        for name in files:
            if not name.endswith(".sqlite"):
                continue
            path = os.path.join(root, name)
            try:
                con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                has = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='ledger'").fetchone()
                con.close()
            except sqlite3.Error:
                continue
            if has:
                found.append(path)
    if len(found) != 1:
        raise SystemExit(f"expected one SQLite file with a ledger table under {persist}, found {found}")
    print(found[0])


def people(rng, count, departments):
    """(user, dept, tier, weight, model, route): a few heavy users and a long tail, each with a
    model and a route of their own most of the time (people keep their habits)."""
    out = []
    tiers = [t for t, _ in TIERS]
    tier_w = [w for _, w in TIERS]
    for i in range(count):
        user = f"u:emp{i + 1:05d}"
        dept = f"dept-{rng.randrange(departments) + 1:02d}"
        tier = rng.choices(tiers, tier_w)[0]
        weight = 1.0 / (i + 10) ** 0.9
        model = MODELS[0] if tier == "guest" else rng.choices(MODELS, [m[1] for m in MODELS])[0]
        route = rng.choices([r for r, _ in ROUTES], [w for _, w in ROUTES])[0]
        out.append((user, dept, tier, weight, model, route))
    rng.shuffle(out)  # the heaviest users are not the first ids
    return out


def generate(args):
    zone = zone_of(args.tz)
    rng = random.Random(args.seed)
    now_ms = args.now_ms
    today = local_day(now_ms, zone)
    days = [today - timedelta(days=args.days - 1 - i) for i in range(args.days)]
    month_start = today.replace(day=1)
    users = people(rng, args.users, args.departments)
    day_w = [WEEKDAYS[d.weekday()] for d in days]
    starts = [day_start_ms(d, zone) for d in days]

    con = sqlite3.connect(args.db, isolation_level=None)
    # A large page cache for this connection only (the import's speed, not the file's shape).
    con.execute("PRAGMA cache_size = -262144")
    have = con.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    if have:
        raise SystemExit(f"{args.db} already holds {have} ledger rows")
    triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' ORDER BY name")]
    if "ledger_rollup" not in triggers:
        raise SystemExit(f"{args.db} has no ledger_rollup trigger (did the worker create its schema?)")

    by_day = {d.isoformat(): [0] * len(FIELDS) for d in days}
    by_user = {}  # over the whole window: [requests, tokens, cost]
    month_users = {}
    month_depts = {}
    endings_seen = {}
    rated = []  # (feedback, id, user)

    def rows():
        # The instants first, sorted: the worker inserts rows in time order, and so does this.
        day_idx = rng.choices(range(len(days)), day_w, k=args.rows)
        hours = rng.choices(range(24), HOURS, k=args.rows)
        stamps = []
        for di, hour in zip(day_idx, hours):
            ts = starts[di] + hour * 3_600_000 + rng.randrange(3_600_000)
            if ts > now_ms:  # today's hours still to come: earlier today instead
                ts = starts[-1] + rng.randrange(max(1, now_ms - starts[-1]))
            stamps.append(ts)
        stamps.sort()
        del day_idx, hours
        labels = {}
        user_idx = rng.choices(range(len(users)), [u[3] for u in users], k=args.rows)
        own = [rng.random() for _ in range(args.rows)]
        models = rng.choices(MODELS, [m[1] for m in MODELS], k=args.rows)
        routes = rng.choices([r for r, _ in ROUTES], [w for _, w in ROUTES], k=args.rows)
        endings = rng.choices([e for e, _ in ENDINGS], [w for _, w in ENDINGS], k=args.rows)
        for i in range(args.rows):
            user, dept, tier, _, own_model, own_route = users[user_idx[i]]
            ts = stamps[i]
            di = (ts - starts[0]) // DAY_MS  # no daylight saving in the default zone; checked below
            if not (0 <= di < len(days) and starts[di] <= ts < (starts[di + 1] if di + 1 < len(days) else now_ms + 1)):
                di = max(j for j in range(len(days)) if starts[j] <= ts)
            day = labels.get(di) or labels.setdefault(di, days[di].isoformat())
            # 70% of a user's requests on their own model, 50% on their own route.
            model = own_model if own[i] < 0.7 or tier == "guest" else models[i]
            route = own_route if own[i] < 0.5 else routes[i]
            ending = endings[i]
            prompt = min(60_000, max(20, int(rng.lognormvariate(6.6, 0.9))))
            completion = min(8_000, max(1, int(rng.lognormvariate(5.6, 0.8))))
            cached = int(prompt * rng.uniform(0.3, 0.8)) if rng.random() < 0.3 else 0
            reasoning = int(completion * rng.uniform(0.3, 0.7)) if model[0] == "o4-mini" else 0
            ttfb = min(5_000, max(200, int(rng.lognormvariate(6.7, 0.6))))
            status, key_id, attempts, estimated, rid = 200, rng.choice(KEY_IDS), 1, 0, f"req_{i:07x}{rng.getrandbits(32):08x}"
            if ending == "completed":
                attempts = 2 if rng.random() < 0.03 else 1
                total = ttfb + completion * rng.randint(8, 25)
            elif ending == "client_aborted":
                completion = max(1, completion // 3)
                reasoning = min(reasoning, completion)
                estimated = int(rng.random() < 0.5)
                total = ttfb + completion * 15
            elif ending == "cached":
                key_id, attempts, ttfb, cached, reasoning = "", 0, 0, prompt, 0
                total = rng.randint(15, 80)
            elif ending == "failed":
                status, attempts, ttfb = rng.choice([502, 503, 504]), rng.randint(1, 3), 0
                prompt = completion = cached = reasoning = 0
                total = rng.randint(1_000, 30_000)
            else:  # abandoned: an attempt given up at the first-byte timeout, billed its prompt
                rid += ":a1"
                status, ttfb, estimated, completion, cached, reasoning = 0, 0, 1, 0, 0, 0
                total = 15_000
            micro = 0 if ending in ("cached", "failed") else cost(model, prompt, completion, cached)
            asked = "auto" if rng.random() < 0.7 else model[0]
            reason = (f"classifier:{rng.uniform(0.55, 0.99):.2f}" if asked == "auto" else "asked")
            credential = "jwt" if rng.random() < 0.95 else "vkey:key_0f1e2d3c"
            tools = "web_search" if rng.random() < 0.05 else ""
            feedback = 0
            if ending == "completed" and rng.random() < 0.04:
                feedback = 1 if rng.random() < 0.75 else -1
                rated.append((feedback, rid, user))

            t = by_day[day]
            t[0] += ending != "abandoned"
            t[1] += ending in FAILED
            t[2] += ending == "cached"
            t[3] += prompt
            t[4] += completion
            t[5] += cached
            t[6] += reasoning
            t[7] += micro
            t[8] += feedback > 0
            t[9] += feedback < 0
            u = by_user.setdefault(user, [0, 0, 0])
            u[0] += ending != "abandoned"
            u[1] += prompt + completion
            u[2] += micro
            if days[di] >= month_start:
                for key, acc in ((user, month_users), (dept, month_depts)):
                    m = acc.setdefault(key, [0, 0, 0])
                    m[0] += ending != "abandoned"
                    m[1] += prompt + completion
                    m[2] += micro
            endings_seen[ending] = endings_seen.get(ending, 0) + 1
            yield (rid, ts, day, user, credential, "openai", key_id, asked, model[0], route, reason,
                   prompt, completion, cached, micro, status, ending, ttfb, total, estimated, attempts,
                   1 if rng.random() < 0.9 else 0, reasoning, tools, None, dept, tier)

    t0 = time.perf_counter()
    it = rows()
    batches = 0
    inserted = 0
    while True:
        chunk = []
        for row in it:
            chunk.append(row)
            if len(chunk) == args.batch:
                break
        if not chunk:
            break
        con.execute("BEGIN")
        con.executemany(INSERT, chunk)
        con.execute("COMMIT")
        batches += 1
        inserted += len(chunk)
        print(f"ledger_gen: {inserted:,} rows ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    insert_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany(RATE, rated)
    con.execute("COMMIT")
    rate_s = time.perf_counter() - t1
    count = con.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    daily = con.execute("SELECT COUNT(*) FROM ledger_daily").fetchone()[0]
    hourly = con.execute("SELECT COUNT(*) FROM ledger_hourly").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = sum(os.path.getsize(p) for p in (args.db, args.db + "-wal") if os.path.exists(p))

    def top(acc):
        ranked = sorted(acc.items(), key=lambda kv: (-kv[1][2], -kv[1][1], kv[0]))[:10]
        return [{"key": k, "requests": v[0], "tokens": v[1], "cost_micro_usd": v[2]} for k, v in ranked]

    json.dump({
        "rows": count, "seed": args.seed, "now_ms": now_ms, "timezone": args.tz,
        "today": today.isoformat(), "month_start": month_start.isoformat(), "from": days[0].isoformat(),
        "users": len(by_user), "departments": args.departments,
        "insert_s": insert_s, "rate_s": rate_s, "rated": len(rated), "batches": batches,
        "rollup_rows": {"ledger_daily": daily, "ledger_hourly": hourly}, "db_bytes": size,
        "endings": endings_seen, "fields": FIELDS, "by_day": by_day,
        "by_user": by_user, "top_users_month": top(month_users), "top_depts_month": top(month_depts),
        "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
    }, sys.stdout)


BOUNDS = [250, 500, 1_000, 2_000, 5_000, 10_000, 30_000]  # rollup.rs TTFB_BOUNDS_MS


def overview_sql(on_ledger):
    """The overview's nine statements (worker/core/src/overview.rs `queries`, same order) over the
    rollups as the worker runs them, or the same aggregates straight over `ledger`."""
    if not on_ledger:
        buckets = ", ".join(f"SUM(ttfb_b{i}) AS ttfb_b{i}" for i in range(len(BOUNDS) + 1))
        totals = ("SELECT SUM(requests) AS requests, SUM(failed) AS failed, SUM(cache_hits) AS cache_hits, "
                  "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
                  "SUM(cached_tokens) AS cached_tokens, SUM(reasoning_tokens) AS reasoning_tokens, "
                  "SUM(cost_micro_usd) AS cost_micro_usd, SUM(rated_up) AS rated_up, SUM(rated_down) AS rated_down "
                  "FROM ledger_daily WHERE day >= ?1 AND day <= ?2")
        top = ("SELECT {c} AS key, SUM(requests) AS requests, SUM(prompt_tokens + completion_tokens) AS tokens, "
               "SUM(cost_micro_usd) AS cost_micro_usd FROM ledger_daily WHERE day >= ?1 AND day <= ?2 AND {c} != '' "
               "GROUP BY {c} ORDER BY cost_micro_usd DESC, tokens DESC, key LIMIT 10")
        endings = (f"SELECT ending, SUM(requests) AS requests, {buckets} FROM ledger_hourly "
                   "WHERE hour >= ?1 AND hour < ?2 GROUP BY ending ORDER BY ending")
        by_day = ("SELECT day AS key, SUM(requests) AS requests, SUM(cost_micro_usd) AS cost_micro_usd "
                  "FROM ledger_daily WHERE day >= ?1 AND day <= ?2 GROUP BY day ORDER BY day")
        user, dept = "user", "dept"
    else:
        req = "SUM(ending != 'abandoned')"
        timed = "ttfb_ms > 0 AND ending NOT IN ('abandoned', 'cached', 'failed')"
        lows = [0] + BOUNDS[:-1]
        buckets = ", ".join([f"SUM({timed} AND ttfb_ms > {lo} AND ttfb_ms <= {hi})" for lo, hi in zip(lows, BOUNDS)]
                            + [f"SUM({timed} AND ttfb_ms > {BOUNDS[-1]})"])
        totals = (f"SELECT {req}, SUM(ending IN {FAILED}), SUM(ending = 'cached'), SUM(prompt_tokens), "
                  "SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_micro_usd), "
                  "SUM(COALESCE(feedback, 0) > 0), SUM(COALESCE(feedback, 0) < 0) FROM ledger WHERE day >= ?1 AND day <= ?2")
        top = (f"SELECT {{c}} AS key, {req} AS requests, SUM(prompt_tokens + completion_tokens) AS tokens, "
               "SUM(cost_micro_usd) AS cost_micro_usd FROM ledger WHERE day >= ?1 AND day <= ?2 AND {c} != '' "
               "GROUP BY {c} ORDER BY cost_micro_usd DESC, tokens DESC, key LIMIT 10")
        endings = (f"SELECT ending, {req}, {buckets} FROM ledger WHERE ts_ms >= ?1 * 3600000 "
                   "AND ts_ms < ?2 * 3600000 GROUP BY ending ORDER BY ending")
        by_day = (f"SELECT day AS key, {req}, SUM(cost_micro_usd) FROM ledger WHERE day >= ?1 AND day <= ?2 "
                  "GROUP BY day ORDER BY day")
        user, dept = "user", "COALESCE(dept, '')"
    return [
        ("totals today", totals, "today"), ("totals month", totals, "month"),
        ("endings today", endings, "today_hours"), ("endings month", endings, "month_hours"),
        ("spend by day", by_day, "month"),
        ("top users today", top.format(c=user), "today"), ("top users month", top.format(c=user), "month"),
        ("top departments today", top.format(c=dept), "today"), ("top departments month", top.format(c=dept), "month"),
    ]


def usage_sql(on_ledger):
    """GET /admin/usage?group=user&from=&to= (worker/core/src/usage.rs), or the same on `ledger`."""
    if not on_ledger:
        return ("SELECT user AS key, SUM(requests) AS requests, SUM(prompt_tokens) AS prompt_tokens, "
                "SUM(completion_tokens) AS completion_tokens, SUM(cached_tokens) AS cached_tokens, "
                "SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_micro_usd) AS cost_micro_usd "
                "FROM ledger_daily WHERE day >= ?1 AND day <= ?2 GROUP BY user ORDER BY user")
    return ("SELECT user, SUM(ending != 'abandoned'), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), "
            "SUM(reasoning_tokens), SUM(cost_micro_usd) FROM ledger WHERE day >= ?1 AND day <= ?2 "
            "GROUP BY user ORDER BY user")


def direct(args):
    """Times the overview's statements in python's sqlite3 on the same file: on the rollups (as the
    worker runs them) and straight on `ledger`, for this month; and on the rollups for a month
    of 30 days (the overview on a month's last day). Each statement runs once to warm the page
    cache, then the best of 5 is kept (the machine is shared): the difference is the rows each
    reads, not the disk."""
    zone = zone_of(args.tz)
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    hour = lambda day: day_start_ms(date.fromisoformat(day), zone) // 3_600_000
    end_hour = -(-(day_start_ms(date.fromisoformat(args.to_day), zone) + DAY_MS) // 3_600_000)

    def binds(kind, month_start):
        return {"today": (args.to_day, args.to_day), "month": (month_start, args.to_day),
                "today_hours": (hour(args.to_day), end_hour), "month_hours": (hour(month_start), end_hour)}[kind]

    def timed(sql, values):
        con.execute(sql, values).fetchall()
        best, rows = None, None
        for _ in range(5):
            t0 = time.perf_counter()
            rows = con.execute(sql, values).fetchall()
            dt = (time.perf_counter() - t0) * 1000
            best = dt if best is None else min(best, dt)
        return best, [list(r) for r in rows]

    out = {"statements": {}, "agree": True}
    for (name, r_sql, kind), (_, l_sql, _) in zip(overview_sql(False), overview_sql(True)):
        r_ms, r_rows = timed(r_sql, binds(kind, args.month_start))
        l_ms, l_rows = timed(l_sql, binds(kind, args.month_start))
        w_ms, _ = timed(r_sql, binds(kind, args.from_day))
        out["statements"][name] = {"rollup": r_ms, "ledger": l_ms, "rollup_30_day_month": w_ms, "agree": r_rows == l_rows}
        out["agree"] = out["agree"] and r_rows == l_rows
    for side in ("rollup", "ledger", "rollup_30_day_month"):
        out[f"overview_{side}_ms"] = sum(s[side] for s in out["statements"].values())
    u_ms, u_rows = timed(usage_sql(False), (args.from_day, args.to_day))
    l_ms, l_rows = timed(usage_sql(True), (args.from_day, args.to_day))
    out["usage_by_user_30_days"] = {"rollup": u_ms, "ledger": l_ms, "agree": u_rows == l_rows}
    out["agree"] = out["agree"] and u_rows == l_rows
    out["plans"] = {
        "totals month on rollup": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + overview_sql(False)[1][1], binds("month", args.month_start))],
        "totals month on ledger": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + overview_sql(True)[1][1], binds("month", args.month_start))],
    }
    out["rollup_rows_in_month"] = con.execute("SELECT COUNT(*) FROM ledger_daily WHERE day >= ? AND day <= ?", (args.month_start, args.to_day)).fetchone()[0]
    out["ledger_rows_in_month"] = con.execute("SELECT COUNT(*) FROM ledger WHERE day >= ? AND day <= ?", (args.month_start, args.to_day)).fetchone()[0]
    con.close()
    json.dump(out, sys.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("find")
    f.add_argument("persist")
    g = sub.add_parser("generate")
    g.add_argument("db")
    g.add_argument("--rows", type=int, default=1_000_000)
    g.add_argument("--seed", type=int, default=15)
    g.add_argument("--now-ms", type=int, required=True)
    g.add_argument("--days", type=int, default=30)
    g.add_argument("--tz", default="Asia/Shanghai")
    g.add_argument("--users", type=int, default=2_000)
    g.add_argument("--departments", type=int, default=20)
    g.add_argument("--batch", type=int, default=250_000)
    d = sub.add_parser("direct")
    d.add_argument("db")
    d.add_argument("--from", dest="from_day", required=True)
    d.add_argument("--to", dest="to_day", required=True)
    d.add_argument("--month-start", required=True)
    d.add_argument("--tz", default="Asia/Shanghai")
    args = parser.parse_args()
    if args.command == "find":
        find(args.persist)
    elif args.command == "generate":
        generate(args)
    else:
        direct(args)


if __name__ == "__main__":
    main()
