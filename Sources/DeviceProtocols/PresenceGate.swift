/// Continuous-output thermometers stream frames whether or not anyone stands in front of them.
/// The gate turns that stream into one measurement per person: when the object temperature rises
/// to `trigger` and holds for `settleFrames` frames, it yields the highest settled value; it re-arms
/// once the value falls back below `trigger` for `clearFrames` frames.
public struct PresenceGate: Sendable {
    public var trigger: Double
    public var settleFrames: Int
    public var clearFrames: Int
    var above: [Double] = []
    var below = 0
    var fired = false

    public init(trigger: Double = 30.0, settleFrames: Int = 3, clearFrames: Int = 3) {
        self.trigger = trigger
        self.settleFrames = settleFrames
        self.clearFrames = clearFrames
    }

    public mutating func feed(_ v: Double) -> Double? {
        if v >= trigger {
            below = 0
            if fired { return nil }
            above.append(v)
            if above.count >= settleFrames {
                fired = true
                defer { above = [] }
                return above.suffix(settleFrames).max()
            }
            return nil
        }
        above = []
        below += 1
        if below >= clearFrames { fired = false }
        return nil
    }
}
