import Foundation

/// Wall-clock seconds (what event records are stamped with).
public func wall() -> Double { Date().timeIntervalSince1970 }

/// How `pct` picks its rank among `count` sorted values.
public enum PercentileRank: Sendable {
    /// Index `Int((count − 1) × p)` (ratios, webbench, central-webbench).
    case ofLast
    /// Index `min(count − 1, Int(count × p))` (central-ratios).
    case ofCount
}

/// The `p` quantile of `xs` (0…1) by `rank`; NaN when `xs` is empty.
public func pct(_ xs: [Double], _ p: Double, rank: PercentileRank = .ofLast) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    switch rank {
    case .ofLast: return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
    case .ofCount: return s[min(s.count - 1, Int(Double(s.count) * p))]
    }
}

/// Seconds as milliseconds with `places` decimals, e.g. "1.25 ms".
public func ms(_ s: Double, places: Int = 2) -> String { String(format: "%.\(places)f ms", s * 1000) }
