import CLibUSB
import Foundation

/// USB hotplug through libusb-1.0: when a device with a configured vendor/product id arrives, the
/// matching device runners are woken so they reopen at once instead of waiting out their backoff
/// (the periodic retry stays as the fallback where hotplug is unavailable, e.g. without udev).
public final class UsbHotplug: @unchecked Sendable {
    public struct USBID: Hashable, Sendable, CustomStringConvertible {
        public var vendor: UInt16
        public var product: UInt16
        public init(vendor: UInt16, product: UInt16) {
            self.vendor = vendor
            self.product = product
        }
        /// `vvvv:pppp` in hex.
        public init?(_ s: String) {
            let p = s.split(separator: ":")
            guard p.count == 2, let v = UInt16(p[0], radix: 16), let d = UInt16(p[1], radix: 16) else { return nil }
            self.init(vendor: v, product: d)
        }
        public var description: String { String(format: "%04x:%04x", vendor, product) }
    }

    public enum Change: Sendable, Equatable { case arrived(USBID), left(USBID) }

    private var ctx: OpaquePointer?
    private var handle: libusb_hotplug_callback_handle = 0
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?
    let watched: Set<USBID>
    let onChange: @Sendable (Change) -> Void

    /// Nil when libusb cannot start or the platform has no hotplug support (the caller keeps its
    /// periodic retry); `reason` says why.
    public static func start(watching ids: Set<USBID>, onChange: @escaping @Sendable (Change) -> Void) -> (UsbHotplug?, reason: String?) {
        let h = UsbHotplug(watched: ids, onChange: onChange)
        if let why = h.begin() { return (nil, why) }
        return (h, nil)
    }

    init(watched: Set<USBID>, onChange: @escaping @Sendable (Change) -> Void) {
        self.watched = watched
        self.onChange = onChange
    }

    private func begin() -> String? {
        var c: OpaquePointer?
        let rc = libusb_init(&c)
        guard rc == 0, let c else { return "libusb_init failed: \(String(cString: libusb_error_name(rc)))" }
        ctx = c
        guard libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 else {
            libusb_exit(c)
            ctx = nil
            return "libusb has no hotplug support here"
        }
        let events = Int32(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
        let reg = libusb_hotplug_register_callback(c, events, 0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, { _, dev, event, user in
            guard let dev, let user else { return 0 }
            let me = Unmanaged<UsbHotplug>.fromOpaque(user).takeUnretainedValue()
            var d = libusb_device_descriptor()
            // Only the descriptor is safe to read in a LEFT callback.
            guard libusb_get_device_descriptor(dev, &d) == 0 else { return 0 }
            let id = USBID(vendor: d.idVendor, product: d.idProduct)
            guard me.watched.contains(id) else { return 0 }
            me.onChange(event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? .arrived(id) : .left(id))
            return 0
        }, Unmanaged.passUnretained(self).toOpaque(), &handle)
        guard reg == 0 else {
            libusb_exit(c)
            ctx = nil
            return "hotplug registration failed: \(String(cString: libusb_error_name(reg)))"
        }
        let t = Thread { [self] in loop() }
        t.name = "postern-usb-hotplug"
        thread = t
        t.start()
        return nil
    }

    private func loop() {
        var tv = timeval(tv_sec: 0, tv_usec: 500_000)
        while true {
            lock.lock()
            let done = stopped
            lock.unlock()
            if done { return }
            libusb_handle_events_timeout_completed(ctx, &tv, nil)
        }
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        while thread?.isFinished == false { usleep(10_000) }
        if let ctx {
            libusb_hotplug_deregister_callback(ctx, handle)
            libusb_exit(ctx)
        }
        ctx = nil
    }

    /// Every USB device the system has now (for `postern devices`); empty without USB.
    public static func connected() -> [USBID] {
        var c: OpaquePointer?
        guard libusb_init(&c) == 0, let c else { return [] }
        defer { libusb_exit(c) }
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let n = libusb_get_device_list(c, &list)
        guard n > 0, let list else { return [] }
        defer { libusb_free_device_list(list, 1) }
        var out: [USBID] = []
        for i in 0..<n {
            guard let dev = list[i] else { continue }
            var d = libusb_device_descriptor()
            if libusb_get_device_descriptor(dev, &d) == 0 { out.append(USBID(vendor: d.idVendor, product: d.idProduct)) }
        }
        return out
    }
}
