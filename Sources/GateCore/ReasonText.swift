/// Human texts for reasons and outcomes, in Chinese and English. Machine codes never change with
/// the language.
public enum Language: String, Sendable, Codable, CaseIterable { case zh, en }

public enum ReasonText {
    public static func text(_ r: Reason, _ lang: Language) -> String {
        let t: (String, String) = switch r {
        case .ok: ("体温正常，请通行", "Temperature normal, please pass")
        case .override: ("工作人员放行", "Admitted by staff override")
        case .unknownCredential: ("无效证件", "Unknown credential")
        case .malformedCredential: ("无法识别的通行码", "Unreadable pass code")
        case .badSignature: ("通行证签名无效", "Pass signature invalid")
        case .unknownKey: ("通行证签发密钥不受信任", "Pass signed by an untrusted key")
        case .expiredPass: ("通行证已过期", "Pass expired")
        case .notYetValid: ("通行证尚未生效", "Pass not yet valid")
        case .revokedPass: ("通行证已注销", "Pass revoked")
        case .supersededPass: ("通行证已被新证取代", "Pass superseded by a newer one")
        case .invalidIDNumber: ("身份证号码校验失败", "ID number check digit invalid")
        case .noTemperature: ("未测体温", "No temperature taken")
        case .implausibleTemperature: ("请重新测量体温", "Please measure again")
        case .feverRetest: ("体温偏高，请稍后复测", "Temperature high, please measure again")
        case .fever: ("体温异常，禁止通行", "Fever: entry refused")
        case .secondaryScreening: ("请到临时观察点复测", "Please go to secondary screening")
        case .notResident: ("非本小区人员禁止入内", "Non-residents may not enter")
        case .courierOutsideHours: ("不在快递员准入时间", "Courier outside allowed hours")
        case .quarantined: ("居家隔离期间禁止外出", "Home isolation: may not go out")
        case .lockdown: ("封闭管理，禁止外出", "Lockdown: may not go out")
        case .householdQuota: ("本户外出采购次数已用完", "Household shopping quota used")
        case .antiPassback: ("进出记录不符", "Already inside/outside")
        case .noMask: ("请佩戴口罩", "Please wear a mask")
        case .kioskStopped: ("设备暂停服务，请稍后重新通行", "Kiosk stopping: please try again shortly")
        }
        return lang == .zh ? t.0 : t.1
    }

    public static func outcome(_ o: Outcome, _ lang: Language) -> String {
        switch (o, lang) {
        case (.admit, .zh): "通行"
        case (.deny, .zh): "拒绝"
        case (.retest, .zh): "复测"
        case (.admit, .en): "admit"
        case (.deny, .en): "deny"
        case (.retest, .en): "retest"
        }
    }
}
