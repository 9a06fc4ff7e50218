// BenchSupport: what the benchmark executables (ratios, webbench, central-ratios, central-webbench)
// share, so each main.swift holds only its own measurements. It owns:
//   - figures: wall and percentile helpers, millisecond formatting (Stats.swift)
//   - the bench kiosk: its one-lane TOML config, its pty devices and the passages driven through
//     them, the relay-open stamps of its simulated GPIO, the one-resident data directory and the
//     registry upserts that mirror it at central, the passage stamps of its log (Kiosk.swift)
//   - loopback HTTP: connect, request, session cookies and login, and the SSE `Viewers` read by one
//     poll loop that notes when each event id first arrives (HTTP.swift)
//   - the process around a bench: options, the open-file limit, child processes (posix_spawn),
//     progress lines on stderr, the repository's root (Process.swift)
// Nothing here measures on its own: each helper is code the executables had, moved as it was (the
// two percentile ranks they used are both kept, see `PercentileRank`).
