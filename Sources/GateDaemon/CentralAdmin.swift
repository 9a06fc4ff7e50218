/// Admin writes when central keeps the registry.
public enum CentralAdmin {
    public static func refusal(url: String, community: String) -> String {
        "the registry of this kiosk is kept at central (\(url), community \(community)); make the change there: the same command with --central \(url), or postern-central. Nothing changed here"
    }
}
