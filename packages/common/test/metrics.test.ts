import { createMetrics, seriesOn } from '../src/metrics';

describe('seriesOn', () => {
  it("registers counters, histograms and gauges on the service's registry, gauges read at scrape time", async () => {
    const metrics = createMetrics('svc', { collectDefault: false });
    const series = seriesOn(metrics);
    series.counter('svc_things_total', 'Things, by kind', ['kind']).inc({ kind: 'a' }, 2);
    series.histogram('svc_wait_seconds', 'Waits', [0.1, 1]).observe(0.5);
    let depth = 3;
    series.gauge('svc_depth', 'Depth, read when scraped', [], function () {
      this.set(depth);
    });
    depth = 7;
    const text = await metrics.registry.metrics();
    expect(text).toContain('svc_things_total{kind="a",service="svc"} 2');
    expect(text).toContain('svc_wait_seconds_bucket{le="1",service="svc"} 1');
    expect(text).toContain('svc_depth{service="svc"} 7');
  });
});
