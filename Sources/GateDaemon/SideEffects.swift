import Foundation
import GateCore
import Logging

/// Work that must never delay the relay: the alert command (event JSON on stdin, with a timeout)
/// and feedback sounds. Each runs detached; failures are logged, not retried into the gate path.
public struct SideEffects: Sendable {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func runAlert(_ command: [String], json: Data, timeout: Double) {
        let logger = logger
        Thread.detachNewThread {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = command
            let input = Pipe()
            p.standardInput = input
            p.standardOutput = FileHandle.nullDevice
            do { try p.run() } catch {
                logger.error("alert command \(command.first ?? "") could not start: \(error)")
                return
            }
            try? input.fileHandleForWriting.write(contentsOf: json + Data("\n".utf8))
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(timeout)
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if p.isRunning {
                p.terminate()
                logger.warning("alert command timed out after \(timeout) s and was stopped")
            } else if p.terminationStatus != 0 {
                logger.warning("alert command exited with status \(p.terminationStatus)")
            }
        }
    }

    public func play(_ player: [String], file: String) {
        guard !player.isEmpty else { return }
        let logger = logger
        Thread.detachNewThread {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = player + [file]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            do {
                try p.run()
                p.waitUntilExit()
            } catch {
                logger.debug("sound player failed: \(error)")
            }
        }
    }
}
