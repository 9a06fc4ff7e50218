// The TOML reader is its own target (`TOMLReader`, Sources/GateDaemon/TOML) so central's config
// reads the same syntax; the kiosk's config code sees it as before.
@_exported import TOMLReader
