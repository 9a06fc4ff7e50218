/// Which credential a reader's text is: the one classification that the kiosk's lanes and
/// `postern pass verify` share, so the two can never disagree about a payload.
///
/// An ID number is not a secret (it is printed on the card, and its check digit is public
/// arithmetic), so it counts as an ID-card credential only when an ID-card reader read it from
/// the card's chip. A line from a QR scanner or a keyboard wedge is a pass or it is malformed —
/// unless the lane explicitly opts into typed ID numbers (a staffed desk), in which case a valid
/// GB 11643 number becomes a `typedIDNumber` that the ledger names as such.
public enum CredentialSource: String, Sendable, Codable {
    /// A card reader that reads the chip of a resident identity card (GA 467).
    case idCardReader = "id_card_reader"
    /// A QR scanner, keyboard wedge or anything else that delivers typed or scanned text.
    case scanner
}

extension Credential {
    public static func classify(_ text: String, source: CredentialSource, typedIDNumbers: Bool = false) -> Credential {
        switch source {
        case .idCardReader:
            return .idCard(text.uppercased())
        case .scanner:
            if typedIDNumbers, IDNumber.isValid(text) { return .typedIDNumber(text.uppercased()) }
            return .qr(text)
        }
    }

    public var kindName: String {
        switch self {
        case .qr: "qr"
        case .idCard: "id_card"
        case .typedIDNumber: "typed_id_number"
        }
    }
}
