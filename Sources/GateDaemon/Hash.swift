import Crypto

/// Hex SHA-256, for config hashes in reload events.
func sha256Hex(_ b: [UInt8]) -> String {
    SHA256.hash(data: b).map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
}
