// The live dashboard (GET /dashboard): reads /dashboard/stream (newline-delimited JSON:
// hello, history, then a tick a second; src/dashboard/contract.ts) and draws it with uPlot.
// A plain script under a strict CSP: no inline code, no CDN, no storage but the API key
// in this tab's sessionStorage.
(function () {
  'use strict';

  const STREAM_PATH = '/dashboard/stream';
  const KEY_STORE = 'swarmserve.dashboard.apiKey';
  /** With no line for this long, the stream is taken for dead and opened again. */
  const STALL_MS = 15000;
  const MAX_BACKOFF_MS = 10000;
  /** The autoscaler samples every 2 s: its last value is carried this long, no longer. */
  const AUTOSCALER_CARRY_S = 6;
  const UNKNOWN_KEY = 'unknown:';
  const OUTCOMES = [
    { label: 'ok (2xx)', color: '#16a34a' },
    { label: 'client (4xx)', color: '#f59e0b' },
    { label: 'shed (503)', color: '#ea580c' },
    { label: 'deadline (504)', color: '#9333ea' },
    { label: 'error (5xx)', color: '#dc2626' },
  ];
  const QUANTILES = [
    { label: 'p50', color: '#2563eb' },
    { label: 'p95', color: '#d97706' },
    { label: 'p99', color: '#dc2626' },
  ];
  const GROUP_DASH = [[], [8, 4], [2, 3], [12, 3, 2, 3]];

  const $ = (selector) => document.querySelector(selector);

  const state = {
    rangeS: 900,
    model: 'all',
    /** The frames of the range, oldest first, one per second. */
    frames: [],
    keys: new Set(),
    header: null,
    workers: [],
    /** The autoscaler groups the chart was built for ("a|b"). */
    groups: '',
    dirty: false,
  };

  // ---------------------------------------------------------------- formatting

  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
    let s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function fmtBytes(bytes) {
    if (!(bytes > 0)) return '0 B';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    const digits = value >= 100 || unit <= 2 ? 0 : value >= 10 ? 0 : 1;
    return `${value.toFixed(digits).replace(/\.0$/, '')} ${units[unit]}`;
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
    if (ms >= 1000) return `${decimal.format(ms / 1000)} s`;
    if (ms >= 10) return `${integer.format(ms)} ms`;
    return `${decimal.format(ms)} ms`;
  }

  const fmtNumber = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : decimal.format(v));

  function fmtClock(t) {
    const d = new Date(t * 1000);
    const two = (n) => String(n).padStart(2, '0');
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }

  // ---------------------------------------------------------------- the API key

  let memoryKey = null;

  function storedKey() {
    try {
      return sessionStorage.getItem(KEY_STORE);
    } catch {
      return memoryKey;
    }
  }

  function storeKey(key) {
    memoryKey = key;
    try {
      if (key === null) sessionStorage.removeItem(KEY_STORE);
      else sessionStorage.setItem(KEY_STORE, key);
    } catch {
      // sessionStorage unavailable: the key lives in this page only.
    }
  }

  // ---------------------------------------------------------------- connection

  const conn = { controller: null, attempt: 0, retryTimer: 0, stallTimer: 0, message: '' };

  function setState(name, message) {
    document.body.dataset.state = name;
    conn.message = message;
    $('[data-field="connection"]').textContent = message;
    $('#key-form').hidden = name !== 'need-key';
  }

  function stop() {
    clearTimeout(conn.retryTimer);
    clearTimeout(conn.stallTimer);
    if (conn.controller !== null) conn.controller.abort();
    conn.controller = null;
  }

  /** Opens the stream again after 1 s, 2 s, 4 s, … at most 10 s (or the server's Retry-After, if longer, up to 10 s). */
  function retryLater(why, retryAfterS) {
    stop();
    const backoff = 1000 * 2 ** conn.attempt;
    const asked = Number.isFinite(retryAfterS) ? retryAfterS * 1000 : 0;
    const delay = Math.min(MAX_BACKOFF_MS, Math.max(backoff, asked));
    conn.attempt++;
    setState('error', `${why}; retrying in ${Math.round(delay / 1000)} s`);
    conn.retryTimer = setTimeout(connect, delay);
  }

  function needKey(refused) {
    stop();
    $('#key-error').hidden = !refused;
    setState('need-key', 'API key needed');
    $('#api-key').focus();
  }

  function watchStall(controller) {
    clearTimeout(conn.stallTimer);
    conn.stallTimer = setTimeout(() => {
      if (conn.controller === controller) retryLater(`no data for ${STALL_MS / 1000} s`);
    }, STALL_MS);
  }

  async function errorCode(res) {
    try {
      const body = await res.json();
      return body && body.error && typeof body.error.code === 'string' ? ` ${body.error.code}` : '';
    } catch {
      return '';
    }
  }

  async function connect() {
    stop();
    const controller = new AbortController();
    conn.controller = controller;
    setState('connecting', conn.attempt === 0 ? 'connecting…' : `reconnecting (attempt ${conn.attempt + 1})…`);
    const key = storedKey();
    let res;
    try {
      res = await fetch(`${STREAM_PATH}?range=${state.rangeS}`, {
        headers: key ? { Authorization: `Bearer ${key}` } : {},
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch {
      if (conn.controller === controller) retryLater('cannot reach the server');
      return;
    }
    if (conn.controller !== controller) return;
    if (res.status === 401) {
      if (key) storeKey(null);
      needKey(Boolean(key));
      return;
    }
    if (!res.ok || res.body === null) {
      const code = await errorCode(res);
      if (conn.controller === controller) retryLater(`the server answered ${res.status}${code}`, Number(res.headers.get('retry-after') ?? ''));
      return;
    }
    try {
      await read(res.body, controller);
    } catch {
      // Aborted, or the connection broke: decided below.
    }
    if (conn.controller === controller) retryLater('the stream ended');
  }

  async function read(body, controller) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const session = { history: false, early: [] };
    let buffer = '';
    watchStall(controller);
    for (;;) {
      const { value, done } = await reader.read();
      if (done || conn.controller !== controller) return;
      watchStall(controller);
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line === '') continue;
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (conn.controller !== controller) return;
        receive(message, session);
      }
    }
  }

  function receive(message, session) {
    if (message.type === 'hello') {
      conn.attempt = 0;
      state.header = message.header;
      setState('live', 'live');
      renderHeader();
    } else if (message.type === 'history') {
      // A tick can come before the history (a range longer than the gateway held): both are merged by second.
      state.frames = [];
      addFrames(message.frames);
      addFrames(session.early);
      session.history = true;
      session.early = [];
      render();
    } else if (message.type === 'tick') {
      state.header = message.header;
      state.workers = message.workers;
      if (!session.history) {
        session.early.push(...message.frames);
        return;
      }
      addFrames(message.frames);
      render();
    }
  }

  /** Adds frames in order of time (a frame of a second already held replaces it) and keeps the range only. */
  function addFrames(frames) {
    const list = state.frames;
    for (const frame of frames) {
      for (const key of Object.keys(frame.models)) if (key !== UNKNOWN_KEY) state.keys.add(key);
      const last = list.length === 0 ? -Infinity : list[list.length - 1].t;
      if (frame.t > last) {
        list.push(frame);
        continue;
      }
      let i = list.length - 1;
      while (i >= 0 && list[i].t > frame.t) i--;
      if (i >= 0 && list[i].t === frame.t) list[i] = frame;
      else list.splice(i + 1, 0, frame);
    }
    if (list.length === 0) return;
    const from = list[list.length - 1].t - state.rangeS;
    let drop = 0;
    while (drop < list.length && list[drop].t <= from) drop++;
    if (drop > 0) list.splice(0, drop);
  }

  // ---------------------------------------------------------------- charts

  function palette() {
    const css = getComputedStyle(document.documentElement);
    const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    return { axis: read('--axis', '#555'), grid: read('--grid', '#e5e7eb'), marks: read('--fg', '#111') };
  }

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }

  /** Draws the points of a series that have no neighbour (a lone second between gaps would not show as a line). */
  function lonePoints(u, seriesIdx) {
    const data = u.data[seriesIdx];
    const out = [];
    for (let i = 0; i < data.length; i++) {
      if (data[i] === null || data[i] === undefined) continue;
      const before = i === 0 ? null : data[i - 1];
      const after = i === data.length - 1 ? null : data[i + 1];
      if ((before === null || before === undefined) && (after === null || after === undefined)) out.push(i);
    }
    return out;
  }

  /** The index the legend shows: the cursor's, else the latest second. */
  const legendIdx = (u, i) => (i === null || i === undefined ? (u.data[0].length > 0 ? u.data[0].length - 1 : null) : i);

  /** A legend value formatter: the value under the cursor, else the latest. */
  const shown = (format) => (u, _v, si, i) => {
    const j = legendIdx(u, i);
    return j === null ? '–' : format(u.data[si][j], u, j);
  };

  const timeSeries = () => ({
    label: 'time',
    value: (u, _v, _si, i) => {
      const j = legendIdx(u, i);
      return j === null ? '–' : fmtClock(u.data[0][j]);
    },
  });

  /** Whole-number steps for axes of counts. */
  const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1e6];

  const line = (label, color, extra) => ({
    label,
    stroke: color,
    width: 1.5,
    spanGaps: false,
    points: { show: true, size: 4, fill: color, filter: lonePoints },
    ...extra,
  });

  const stepped = () => uPlot.paths.stepped({ align: 1 });

  /** The time axis and scale every chart shares: the whole range, even when the history is shorter. */
  function baseOptions(colors, spec) {
    return {
      height: spec.height,
      width: 300,
      cursor: { sync: { key: 'swarmserve' }, drag: { setScale: false, x: false, y: false }, points: { size: 6 } },
      legend: { live: true },
      scales: {
        x: {
          time: true,
          range: () => xRange(),
        },
      },
      axes: [
        {
          stroke: colors.axis,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid, width: 1 },
          space: 70,
          size: 34,
          // One line of local time: HH:MM, with seconds when the ticks are less than a minute apart.
          values: (_u, splits, _axis, _space, incr) => splits.map((v) => (v === null ? '' : incr < 60 ? fmtClock(v) : fmtClock(v).slice(0, 5))),
        },
        { stroke: colors.axis, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1 }, size: 56, incrs: COUNT_INCRS },
      ],
    };
  }

  function xRange() {
    const frames = state.frames;
    const last = frames.length === 0 ? Math.floor(Date.now() / 1000) : frames[frames.length - 1].t;
    return [last - state.rangeS + 1, last];
  }

  /** A logarithmic ms scale from a decade below the smallest value to a decade above the largest (a fresh object per chart). */
  const msScale = () => ({
    distr: 3,
    log: 10,
    range: (_u, min, max) => {
      if (min === null || max === null) return [0.1, 100];
      const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, min)));
      const hi = 10 ** Math.ceil(Math.log10(Math.max(lo * 10, max)));
      return [lo, hi];
    },
  });

  const countRange = (_u, _min, max) => [0, max === null || max <= 0 ? 1 : Math.ceil(max * 1.1)];

  function msAxis(colors, side) {
    return {
      scale: 'ms',
      side,
      stroke: colors.axis,
      grid: { show: side === 3, stroke: colors.grid, width: 1, filter: (_u, splits) => splits.map((v) => (isNice(v) ? v : null)) },
      ticks: { stroke: colors.grid, width: 1, filter: (_u, splits) => splits.map((v) => (isNice(v) ? v : null)) },
      size: 64,
      values: (_u, splits) => splits.map((v) => (v === null ? '' : isDecade(v) ? fmtMs(v) : '')),
    };
  }

  const isDecade = (v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-6;
  /** 1, 2 or 5 times a power of ten: the log axes' grid lines. */
  const isNice = (v) => v !== null && [1, 2, 5].some((m) => isDecade(v / m));

  /** The model frame of the selected version in a frame, or undefined. */
  const pick = (frame) => (state.model === 'all' ? frame.all : frame.models[state.model]);

  function latencySpec(name, field, height) {
    return {
      name,
      height,
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.ms = msScale();
        o.series = [timeSeries(), ...QUANTILES.map((q) => line(q.label, q.color, { scale: 'ms', value: shown(fmtMs) }))];
        o.axes[1] = msAxis(colors, 3);
        return o;
      },
      data(frames) {
        const cols = [[], [], []];
        for (const frame of frames) {
          const q = pick(frame)?.[field] ?? null;
          for (let i = 0; i < 3; i++) cols[i].push(q === null ? null : Math.max(0.01, q[i]));
        }
        return cols;
      },
      points: (frames) => frames.filter((f) => (pick(f)?.[field] ?? null) !== null).length,
    };
  }

  const SPECS = [
    {
      name: 'requests',
      height: 220,
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.y = { range: countRange };
        o.series = [
          timeSeries(),
          ...OUTCOMES.map((outcome) => ({
            label: outcome.label,
            stroke: outcome.color,
            fill: alpha(outcome.color, 0.75),
            // No line: a layer's edge is the sum below it, and would read as its own rate.
            width: 0,
            paths: stepped(),
            // The legend shows each outcome's own rate, not the stacked sum drawn.
            value: (u, _v, si, i) => {
              const j = legendIdx(u, i);
              return j === null || u.raw === undefined ? '–' : fmtNumber(u.raw[si - 1][j]);
            },
          })),
        ];
        o.bands = [2, 3, 4, 5].map((i) => ({ series: [i, i - 1] }));
        return o;
      },
      data(frames, chart) {
        const raw = OUTCOMES.map(() => []);
        const stacked = OUTCOMES.map(() => []);
        for (const frame of frames) {
          const outcomes = pick(frame)?.outcomes ?? [0, 0, 0, 0, 0];
          let sum = 0;
          for (let i = 0; i < OUTCOMES.length; i++) {
            raw[i].push(outcomes[i]);
            sum += outcomes[i];
            stacked[i].push(sum);
          }
        }
        chart.u.raw = raw;
        return stacked;
      },
      points: (frames) => frames.filter((f) => (pick(f)?.outcomes ?? []).reduce((a, b) => a + b, 0) > 0).length,
    },
    latencySpec('latency-total', 'total', 180),
    latencySpec('latency-queue', 'queue', 180),
    latencySpec('latency-inference', 'inference', 180),
    {
      name: 'batch',
      height: 180,
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.y = { range: countRange };
        o.series = [timeSeries(), line('mean batch', '#0891b2', { paths: stepped(), fill: alpha('#0891b2', 0.15), value: shown(fmtNumber) })];
        return o;
      },
      data: (frames) => [frames.map((f) => pick(f)?.batch ?? null)],
      points: (frames) => frames.filter((f) => (pick(f)?.batch ?? null) !== null).length,
    },
    {
      name: 'backlog',
      height: 180,
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.y = { range: countRange };
        o.scales.ms = { range: (_u, _min, max) => [0, max === null || max <= 0 ? 10 : max * 1.1] };
        o.series = [
          timeSeries(),
          line('waiting jobs', '#4f46e5', { paths: stepped(), fill: alpha('#4f46e5', 0.15), value: shown(fmtNumber) }),
          line('oldest wait', '#db2777', { scale: 'ms', value: shown(fmtMs) }),
        ];
        o.axes.push({
          scale: 'ms',
          side: 1,
          stroke: colors.axis,
          grid: { show: false },
          ticks: { stroke: colors.grid, width: 1 },
          size: 64,
          values: (_u, splits) => splits.map((v) => fmtMs(v)),
        });
        return o;
      },
      data: (frames) => [frames.map((f) => pick(f)?.backlog ?? null), frames.map((f) => pick(f)?.oldestWaitMs ?? null)],
      points: (frames) => frames.filter((f) => (pick(f)?.backlog ?? null) !== null).length,
    },
    {
      name: 'workers',
      height: 180,
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.y = { range: countRange };
        o.series = [
          timeSeries(),
          line('workers', '#059669', { paths: stepped(), width: 2, value: shown(fmtNumber) }),
          line('gateways', '#64748b', { paths: stepped(), dash: [6, 4], value: shown(fmtNumber) }),
        ];
        return o;
      },
      data: (frames) => [frames.map((f) => f.workers), frames.map((f) => f.gateways)],
      points: (frames) => frames.filter((f) => f.workers > 0).length,
    },
    {
      name: 'autoscaler',
      height: 200,
      groups: [],
      options(colors) {
        const o = baseOptions(colors, this);
        o.scales.y = { range: countRange };
        o.series = [timeSeries()];
        this.groups.forEach((group, g) => {
          const dash = GROUP_DASH[g % GROUP_DASH.length];
          const name = this.groups.length > 1 ? `${group} ` : '';
          o.series.push(
            line(`${name}desired`, '#d97706', { paths: stepped(), dash: dash.length === 0 ? [6, 4] : dash, value: shown(fmtNumber) }),
            line(`${name}current`, '#2563eb', { paths: stepped(), width: 2.5, dash, value: shown((v, u, j) => withReason(u, g, v, j)) }),
            line(`${name}live`, '#059669', { paths: stepped(), dash, value: shown(fmtNumber) }),
          );
        });
        o.hooks = { draw: [(u) => drawMarks(u, colors)] };
        return o;
      },
      data(frames, chart) {
        const cols = [];
        const marks = [];
        const reasons = [];
        this.groups.forEach((group, g) => {
          const desired = [];
          const current = [];
          const live = [];
          const why = [];
          let last = null;
          let lastT = -Infinity;
          frames.forEach((frame, i) => {
            const sample = frame.autoscalers[group];
            if (sample !== undefined) {
              if (sample.changed) marks.push({ i, y: sample.current, up: last === null ? sample.current >= sample.live : sample.current >= last.current });
              last = sample;
              lastT = frame.t;
            } else if (frame.t - lastT > AUTOSCALER_CARRY_S) {
              last = null;
            }
            desired.push(last?.desired ?? null);
            current.push(last?.current ?? null);
            live.push(last?.live ?? null);
            why.push(last?.reason ?? null);
          });
          cols.push(desired, current, live);
          reasons[g] = why;
        });
        chart.u.marks = marks;
        chart.u.reasons = reasons;
        return cols;
      },
      points: (frames) => frames.filter((f) => Object.keys(f.autoscalers).length > 0).length,
    },
  ];

  function withReason(u, g, v, i) {
    if (v === null || v === undefined) return '–';
    const reason = u.reasons === undefined ? null : u.reasons[g][i];
    return reason ? `${fmtNumber(v)} (${reason})` : fmtNumber(v);
  }

  function drawMarks(u, colors) {
    if (!u.marks || u.marks.length === 0) return;
    const { ctx } = u;
    const size = 5 * devicePixelRatio;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - size * 2, width, height + size * 4);
    ctx.clip();
    for (const mark of u.marks) {
      const x = u.valToPos(u.data[0][mark.i], 'x', true);
      const y = u.valToPos(mark.y, 'y', true);
      ctx.beginPath();
      if (mark.up) {
        ctx.moveTo(x, y - size * 2.2);
        ctx.lineTo(x - size, y - size * 0.6);
        ctx.lineTo(x + size, y - size * 0.6);
      } else {
        ctx.moveTo(x, y + size * 2.2);
        ctx.lineTo(x - size, y + size * 0.6);
        ctx.lineTo(x + size, y + size * 0.6);
      }
      ctx.closePath();
      ctx.fillStyle = mark.up ? '#2563eb' : colors.marks;
      ctx.fill();
    }
    ctx.restore();
  }

  /** name → { spec, card, el, u, width } */
  const charts = new Map();
  const byElement = new Map();
  const resizer = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const chart = byElement.get(entry.target);
      const width = Math.floor(entry.contentRect.width);
      if (chart === undefined || chart.u === null || width <= 0 || width === chart.width) continue;
      chart.width = width;
      chart.u.setSize({ width, height: chart.spec.height });
    }
  });

  function buildChart(chart) {
    if (chart.u !== null) chart.u.destroy();
    const options = chart.spec.options(palette());
    options.width = Math.max(200, Math.floor(chart.el.clientWidth) || 300);
    chart.width = options.width;
    const empty = [[], ...options.series.slice(1).map(() => [])];
    chart.u = new uPlot(options, empty, chart.el);
  }

  function setupCharts() {
    for (const spec of SPECS) {
      const card = document.querySelector(`[data-chart="${spec.name}"]`);
      const el = card.querySelector('.plot');
      const chart = { spec, card, el, u: null, width: 0 };
      charts.set(spec.name, chart);
      byElement.set(el, chart);
      buildChart(chart);
      resizer.observe(el);
    }
  }

  /** Sets each card's data-points; draws unless `draw` is false (a hidden tab draws when shown again). */
  function renderCharts(draw) {
    const frames = state.frames;
    const xs = frames.map((f) => f.t);
    const scaler = charts.get('autoscaler');
    const groups = [...new Set(frames.flatMap((f) => Object.keys(f.autoscalers)))].sort();
    scaler.card.hidden = groups.length === 0;
    if (groups.join('|') !== state.groups) {
      state.groups = groups.join('|');
      scaler.spec.groups = groups;
      buildChart(scaler);
    }
    for (const chart of charts.values()) {
      chart.card.dataset.points = String(chart.spec.points(frames));
      if (!draw || chart.card.hidden) continue;
      chart.u.setData([xs, ...chart.spec.data(frames, chart)]);
    }
    renderDecisions(groups.length === 0 ? [] : frames, groups);
  }

  function renderDecisions(frames, groups) {
    const list = $('#decisions');
    const items = [];
    let previous = {};
    for (const frame of frames) {
      for (const group of groups) {
        const sample = frame.autoscalers[group];
        if (sample === undefined) continue;
        if (sample.changed) {
          const before = previous[group];
          const up = before === undefined ? sample.current >= sample.live : sample.current >= before.current;
          const from = before === undefined ? '' : `${before.current} → `;
          const who = groups.length > 1 ? `${group}: ` : '';
          items.push({ up, text: `${fmtClock(frame.t)} ${up ? '▲' : '▼'} ${who}${from}${sample.current} · ${sample.reason} (desired ${sample.desired})` });
        }
        previous = { ...previous, [group]: sample };
      }
    }
    const last = items.slice(-6).reverse();
    list.replaceChildren(
      ...(last.length === 0
        ? [Object.assign(document.createElement('li'), { textContent: 'no scaling decision in this range', className: 'muted' })]
        : last.map((item) => Object.assign(document.createElement('li'), { textContent: item.text, className: item.up ? 'up' : 'down' }))),
    );
  }

  // ---------------------------------------------------------------- header, selectors, table

  function setField(name, text) {
    const el = document.querySelector(`[data-field="${name}"]`);
    if (el.textContent !== text) el.textContent = text;
    return el;
  }

  function renderHeader() {
    const h = state.header;
    if (h === null) return;
    setField('version', h.version);
    setField('mode', h.mode);
    setField('gateway', h.gateway);
    setField('uptime', fmtDuration(h.uptimeS));
    setField('redis', h.redis).className = `redis-${h.redis}`;
    const notReady = setField('not-ready', h.notReady === null ? 'ready' : h.notReady);
    notReady.classList.toggle('alert', h.notReady !== null);
    const total = $('#requests-total');
    total.dataset.value = String(h.requestsTotal);
    total.textContent = integer.format(h.requestsTotal);
  }

  function renderModels() {
    const select = $('#model');
    const wanted = ['all', ...[...state.keys].sort()];
    if (!wanted.includes(state.model)) wanted.push(state.model);
    const have = [...select.options].map((o) => o.value);
    if (have.join('\n') === wanted.join('\n')) return;
    select.replaceChildren(...wanted.map((key) => new Option(key, key, false, key === state.model)));
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function memoryCell(row) {
    const td = document.createElement('td');
    td.className = 'memory';
    const label = document.createElement('span');
    label.textContent = row.memoryLimitBytes > 0 ? `${fmtBytes(row.rssBytes)} / ${fmtBytes(row.memoryLimitBytes)}` : fmtBytes(row.rssBytes);
    td.append(label);
    if (row.memoryLimitBytes > 0) {
      const share = Math.min(1, row.rssBytes / row.memoryLimitBytes);
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.className = share >= 0.9 ? 'high' : share >= 0.75 ? 'warn' : '';
      fill.style.width = `${(share * 100).toFixed(1)}%`;
      bar.append(fill);
      bar.title = `${Math.round(share * 100)} % of the limit`;
      td.append(bar);
    }
    return td;
  }

  function renderWorkers() {
    const rows = state.workers.map((w) => {
      const tr = document.createElement('tr');
      tr.dataset.workerId = w.id;
      tr.append(
        cell(w.id, 'id'),
        cell(w.host),
        cell(w.keys.join(', ')),
        cell(fmtDuration(w.uptimeS), 'num'),
        cell(fmtNumber(w.imagesPerS), 'num'),
        cell(w.busyPct === null ? '–' : `${decimal.format(w.busyPct)} %`, 'num'),
        cell(fmtNumber(w.meanBatch), 'num'),
        memoryCell(w),
      );
      return tr;
    });
    $('#workers tbody').replaceChildren(...rows);
    $('#workers-empty').hidden = rows.length > 0;
    $('#workers-count').textContent = rows.length === 0 ? '' : `${rows.length} in the registry`;
  }

  function render() {
    state.dirty = document.hidden;
    renderHeader();
    renderModels();
    renderWorkers();
    renderCharts(!document.hidden);
  }

  // ---------------------------------------------------------------- start

  function start() {
    setupCharts();
    $('#range').value = String(state.rangeS);
    $('#range').addEventListener('change', (event) => {
      state.rangeS = Number(event.target.value);
      state.frames = [];
      conn.attempt = 0;
      render();
      void connect();
    });
    $('#model').addEventListener('change', (event) => {
      state.model = event.target.value;
      render();
    });
    $('#key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('#api-key');
      const key = input.value.trim();
      if (key === '') return;
      input.value = '';
      storeKey(key);
      conn.attempt = 0;
      void connect();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.dirty) render();
    });
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      for (const chart of charts.values()) buildChart(chart);
      render();
    });
    void connect();
  }

  start();
})();
