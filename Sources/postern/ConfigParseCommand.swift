import ArgumentParser
import Foundation
import GateDaemon

extension ConfigCommand {
    /// `postern config parse FILE`: what the TOML reader understood, as tagged JSON (the form the
    /// toml-test compliance suite uses), so admins and other tools can compare it with the file.
    struct Parse: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print any TOML document as tagged JSON (toml-test form); exit 1 with file:line: message if it is not valid TOML 1.0.")
        @Argument(help: "The TOML file.") var file: String?
        /// For scripts/toml-diff.py: documents on stdin as `<byte count>\n<bytes>`, one JSON line out
        /// per document (`{"ok":…}` or `{"error":{"line":N,"message":…}}`), written as each is read.
        @Flag(name: .long, help: .hidden) var batch = false

        func validate() throws {
            if batch == (file != nil) { throw ValidationError("give a FILE (or --batch)") }
        }

        func run() async throws {
            if batch { return Self.runBatch() }
            guard let file, let data = FileManager.default.contents(atPath: file) else {
                errOut("postern: cannot read \(file ?? "")")
                throw ExitCode(3)
            }
            do {
                out(try TOML.parse(bytes: [UInt8](data)).taggedJSON)
            } catch {
                errOut("\(file):\(error.line): \(error.message)")
                throw ExitCode(1)
            }
        }

        static func runBatch() {
            let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
            var i = 0
            while i < input.count {
                guard let nl = input[i...].firstIndex(of: 0x0A), let n = Int(String(decoding: input[i..<nl], as: UTF8.self)), n >= 0, nl + 1 + n <= input.count
                else {
                    errOut("postern: malformed batch input at byte \(i)")
                    return
                }
                let doc = Array(input[(nl + 1)..<(nl + 1 + n)])
                i = nl + 1 + n
                let line: String
                do {
                    line = "{\"ok\":" + (try TOML.parse(bytes: doc)).taggedJSON + "}"
                } catch {
                    line = "{\"error\":" + error.json + "}"
                }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }
}
