// Persistent thread pool for the kernels: one worker per core minus the caller.
// Workers spin briefly then sleep on a condition variable, so an idle pool costs nothing.
#include "common.h"
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <chrono>
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace llava {

namespace {

// How long an idle worker (or the caller waiting for workers) spins before sleeping:
// kernels arrive microseconds apart during training, and a futex wake-up costs about as
// much as a small kernel. Short enough that an idle pool costs nothing measurable.
constexpr auto kSpin = std::chrono::microseconds(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until done() or kSpin elapses; returns done().
template <typename F>
bool spin_until(F done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; i++) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) return done();
  }
}

struct Pool {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv_start, cv_done;
  const std::function<void(int64_t, int64_t, int)>* fn = nullptr;
  int64_t n = 0;
  int chunks = 0;
  std::atomic<int> next{0};
  std::atomic<int> pending{0};
  std::atomic<int> busy{0};  // workers inside run_chunks
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  int threads = 1;
  bool in_task = false;

  void run_chunks() {
    for (;;) {
      int c = next.fetch_add(1);
      if (c >= chunks) break;
      int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      (*fn)(b, e, c);
      if (pending.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu);
        cv_done.notify_all();
      }
    }
  }
  void worker() {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return stop.load() || generation.load() != seen; });
      {
        std::unique_lock<std::mutex> lk(mu);
        cv_start.wait(lk, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
        busy++;
      }
      run_chunks();
      busy--;
      { std::lock_guard<std::mutex> lk(mu); }  // orders the decrement before a waiter's check
      cv_done.notify_all();
    }
  }
  void start(int t) {
    threads = t < 1 ? 1 : t;
    for (int i = 1; i < threads; i++) workers.emplace_back([this] { worker(); });
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    cv_start.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    stop = false;
  }
  ~Pool() { shutdown(); }
};

int default_threads() {
  if (const char* e = std::getenv("LLAVA_THREADS")) {
    int v = std::atoi(e);
    if (v > 0) return v;
  }
  unsigned h = std::thread::hardware_concurrency();
  return h ? int(h) : 1;
}

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();
    q->start(default_threads());
    return q;
  }();
  return *p;
}
}  // namespace

int pool_threads() { return pool().threads; }

void set_pool_threads(int n) {
  Pool& p = pool();
  if (n == p.threads) return;
  p.shutdown();
  p.start(n);
}

int pool_chunks(int64_t n, int64_t grain) {
  if (n <= 0) return 0;
  int64_t g = grain < 1 ? 1 : grain;
  int64_t by_grain = (n + g - 1) / g;
  int64_t c = pool_threads();
  if (by_grain < c) c = by_grain;
  return int(c < 1 ? 1 : c);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  Pool& p = pool();
  int chunks = pool_chunks(n, grain);
  if (chunks <= 1 || p.in_task) {
    // Same split as the threaded path, run in order, so results match it exactly.
    for (int c = 0; c < chunks; c++) fn(n * c / chunks, n * (c + 1) / chunks, c);
    return;
  }
  {
    // A worker still leaving the previous job must be out before the fields change.
    std::unique_lock<std::mutex> lk(p.mu);
    p.cv_done.wait(lk, [&] { return p.busy.load() == 0; });
    p.fn = &fn;
    p.n = n;
    p.chunks = chunks;
    p.next.store(0);
    p.pending.store(chunks);
    p.in_task = true;
    p.generation++;
  }
  p.cv_start.notify_all();
  p.run_chunks();
  auto all_done = [&] { return p.pending.load() == 0 && p.busy.load() == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.cv_done.wait(lk, all_done);
  }
  p.in_task = false;
}

std::vector<Registrar>& registrars() {
  static std::vector<Registrar> r;
  return r;
}
RegisterFamily::RegisterFamily(Registrar r) { registrars().push_back(r); }

}  // namespace llava
