const mb = (n: number) => (n / 1048576).toFixed(1);
let last = process.memoryUsage();
const show = (l: string) => { global.gc?.(); global.gc?.(); const m = process.memoryUsage(); console.log(l.padEnd(28), "rss +", mb(m.rss - last.rss), "heapUsed +", mb(m.heapUsed - last.heapUsed), "heapTotal", mb(m.heapTotal), "rss", mb(m.rss)); last = m; };
show("start");
for (const m of (process.env.MODS ?? "").split(",").filter(Boolean)) { await import(m); show(m); }
for (const f of (process.env.SRC ?? "").split(",").filter(Boolean)) { await import(`/work/main/src/${f}.ts`); show(f); }
process.exit(0);
