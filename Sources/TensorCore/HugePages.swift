#if canImport(Glibc)
import Glibc
#endif

/// Backing for the large buffers every forward streams through (packed weights, KV caches): 2 MiB
/// aligned regions that Linux is asked to back with transparent huge pages (`madvise(MADV_HUGEPAGE)`,
/// which works where THP is `always` or `madvise`, the default of most distributions).
///
/// Why: a decode step streams every weight once (about 100 MB for SmolLM2 in Q4_1), so on 4 KiB pages
/// it takes a TLB miss every 4 KiB, and the hardware prefetchers stop at each page boundary (the
/// measurements: docs/kernels.md, "Weights and KV caches on huge pages").
///
/// A model's weights are a few hundred tensors of 0.1–2 MB, so they are bump-allocated out of shared
/// 32 MiB regions; a region is unmapped when the last buffer in it (and the arena, for the current
/// one) lets go of it. Memory is never reused within a region, so what it hands out is zero, as
/// `AlignedBuffer` promises.
public enum HugePages {
    /// Buffers below this stay on the ordinary heap: they are not streamed, and a region's space is
    /// better spent on what is.
    public static let minimumBytes = 64 << 10
    static let pageBytes = 2 << 20
    static let regionBytes = 32 << 20

    /// `bytes` of zeroed memory, 64-byte aligned, and the region that owns it (keep it alive while the
    /// memory is used). Nil where huge pages cannot be asked for (not Linux, or the mapping failed):
    /// the caller then allocates as usual.
    static func allocate(bytes: Int) -> (pointer: UnsafeMutableRawPointer, owner: AnyObject)? {
        #if os(Linux)
        precondition(bytes > 0)
        let size = (bytes + 63) / 64 * 64
        if size > regionBytes / 4 {
            // A large buffer (a KV cache, a head) gets a region of its own rather than splitting one.
            guard let region = Region(bytes: size) else { return nil }
            return (region.base, region)
        }
        return current.withLock { (region: inout Region?) -> (pointer: UnsafeMutableRawPointer, owner: AnyObject)? in
            if region == nil || region!.used + size > region!.size {
                guard let fresh = Region(bytes: regionBytes) else { return nil }
                region = fresh
            }
            let r = region!
            let p = r.base + r.used
            r.used += size
            return (p, r)
        }
        #else
        return nil
        #endif
    }

    /// Bytes of the regions mapped now (tests, reports).
    public static var mappedBytes: Int { mapped.withLock { $0 } }

    private static let current = Locked<Region?>(nil)
    private static let mapped = Locked(0)

    /// One 2 MiB-aligned anonymous mapping, unmapped when the last owner lets go.
    final class Region {
        let base: UnsafeMutableRawPointer
        let size: Int
        var used = 0  // only the arena's lock holder moves it
        private let mapping: UnsafeMutableRawPointer
        private let mappingBytes: Int

        init?(bytes: Int) {
            size = (bytes + pageBytes - 1) / pageBytes * pageBytes
            // Over-map by one huge page so a 2 MiB-aligned start fits; the slack stays mapped, untouched.
            mappingBytes = size + pageBytes
            guard let m = mmap(nil, mappingBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  m != MAP_FAILED else { return nil }
            mapping = m
            let start = (Int(bitPattern: m) + pageBytes - 1) / pageBytes * pageBytes
            base = UnsafeMutableRawPointer(bitPattern: start)!
            // Advice only: where THP is off the region is ordinary pages, correct and as fast as before.
            _ = madvise(base, size, 14)  // MADV_HUGEPAGE
            HugePages.mapped.withLock { $0 += mappingBytes }
        }

        deinit {
            munmap(mapping, mappingBytes)
            HugePages.mapped.withLock { $0 -= mappingBytes }
        }
    }
}

/// Zeroed, 64-byte aligned bytes that free themselves: in a huge-page region where asked for and at
/// least `HugePages.minimumBytes`, on the heap otherwise. The one place `AlignedBuffer` and `KVBuffer`
/// choose between the two.
public final class ByteStorage: @unchecked Sendable {
    // Sendable: the owner of the storage decides who writes it (see AlignedBuffer, KVBuffer).
    public let pointer: UnsafeMutableRawPointer
    /// The huge-page region holding `pointer`, or nil for the heap.
    private let region: AnyObject?

    /// `commit`: write every byte now, even region memory that is already zero, so the pages are taken
    /// at once rather than on first use.
    public init(bytes: Int, hugePages: Bool, commit: Bool = false) {
        if hugePages && bytes >= HugePages.minimumBytes, let (p, owner) = HugePages.allocate(bytes: bytes) {
            pointer = p
            region = owner
            if commit { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
        } else {
            pointer = .allocate(byteCount: bytes, alignment: 64)
            region = nil
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        }
    }

    deinit {
        if region == nil { pointer.deallocate() }
    }
}
