// Prometheus text exposition of the server's counters, gauges and histograms.

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

class Histogram {
  private readonly counts = LATENCY_BUCKETS.map(() => 0);
  private sum = 0;
  private count = 0;
  observe(v: number): void {
    LATENCY_BUCKETS.forEach((b, i) => v <= b && this.counts[i]!++);
    this.sum += v;
    this.count++;
  }
  lines(name: string): string[] {
    return [
      ...LATENCY_BUCKETS.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

/** What /metrics reports. */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private tokensIn = 0;
  private tokensOut = 0;
  readonly timeToFirstToken = new Histogram();
  readonly latency = new Histogram();

  request(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  tokens(prompt: number, generated: number): void {
    this.tokensIn += prompt;
    this.tokensOut += generated;
  }

  /** The exposition text; gauges are read at scrape time. */
  render(gauges: { queueDepth: number; busySlots: number; slots: number; loaded: boolean }): string {
    const out: string[] = [];
    out.push('# HELP llava_requests_total HTTP requests by route and status.', '# TYPE llava_requests_total counter');
    for (const [k, v] of [...this.requests].sort()) out.push(`llava_requests_total{${k}} ${v}`);
    out.push('# HELP llava_prompt_tokens_total Prompt positions prefilled (visual tokens included).', '# TYPE llava_prompt_tokens_total counter', `llava_prompt_tokens_total ${this.tokensIn}`);
    out.push('# HELP llava_generated_tokens_total Tokens generated.', '# TYPE llava_generated_tokens_total counter', `llava_generated_tokens_total ${this.tokensOut}`);
    out.push('# HELP llava_queue_depth Requests waiting for a slot.', '# TYPE llava_queue_depth gauge', `llava_queue_depth ${gauges.queueDepth}`);
    out.push('# HELP llava_busy_slots Sequences decoding now.', '# TYPE llava_busy_slots gauge', `llava_busy_slots ${gauges.busySlots}`);
    out.push('# HELP llava_slots Sequences that can decode together (--parallel).', '# TYPE llava_slots gauge', `llava_slots ${gauges.slots}`);
    out.push('# HELP llava_model_loaded 1 once the model is loaded.', '# TYPE llava_model_loaded gauge', `llava_model_loaded ${gauges.loaded ? 1 : 0}`);
    out.push('# HELP llava_time_to_first_token_seconds From request to first generated token.', '# TYPE llava_time_to_first_token_seconds histogram', ...this.timeToFirstToken.lines('llava_time_to_first_token_seconds'));
    out.push('# HELP llava_request_duration_seconds Generation requests from arrival to last byte.', '# TYPE llava_request_duration_seconds histogram', ...this.latency.lines('llava_request_duration_seconds'));
    return out.join('\n') + '\n';
  }
}
