// The TOML reader is its own target (`TOMLReader`) so central's config reads the same syntax;
// the kiosk's config code sees it as before.
@_exported import TOMLReader

extension TOMLValue {
    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .array: "an array"
        case .table: "a table"
        }
    }
}
