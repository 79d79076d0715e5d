#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The parsers' one growable window over a `ByteSource` (the kseq / needletail buffer).
///
/// Unconsumed bytes are `storage[start..<end]`; `fill()` appends the next block after them,
/// first sliding them to the front when the free tail is smaller than a block, and doubling the
/// storage only when a single unfinished line fills all of it. The capacity is therefore about
/// two blocks, or the longest line a parser must hold whole (a header or a flat-file line;
/// FASTA sequence lines are consumed piecewise and never force growth).
///
/// Parsers read `storage`, `start` and `end` directly and advance `start` as they consume;
/// indices stay valid until the next `fill()`, which may move the bytes (offsets relative to
/// `start` survive it).
final class InputBuffer {
    let source: ByteSource
    private(set) var storage: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// First unconsumed byte.
    var start = 0
    /// One past the last byte read.
    private(set) var end = 0
    /// Stream offset of `storage[0]` (decompressed bytes before it).
    private(set) var baseOffset = 0
    /// True once the source reported the end of input.
    private(set) var atEOF = false

    var name: String { source.name }

    init(source: ByteSource) {
        self.source = source
        capacity = max(16, 2 * source.blockSize)
        storage = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// The stream offset of `storage[index]`.
    @inline(__always)
    func offset(of index: Int) -> Int { baseOffset + index }

    /// Reads one more block after `end`, keeping `start..<end`. Returns false (and reads nothing)
    /// at the end of input.
    ///
    /// - Throws: the source's errors.
    func fill() throws -> Bool {
        if atEOF { return false }
        if start == end {
            baseOffset += start
            start = 0
            end = 0
        } else if capacity - end < source.blockSize && start > 0 {
            let kept = end - start
            memmove(storage, storage + start, kept)
            baseOffset += start
            start = 0
            end = kept
        }
        if end == capacity {
            let newCapacity = capacity * 2
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            grown.update(from: storage, count: end)
            storage.deallocate()
            storage = grown
            capacity = newCapacity
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(start: storage + end, count: capacity - end))
        if n == 0 {
            atEOF = true
            return false
        }
        end += n
        return true
    }

    /// Makes at least `count` bytes available at `start` unless the input ends first; returns
    /// whether they are.
    func ensure(_ count: Int) throws -> Bool {
        while end - start < count {
            if try !fill() { return false }
        }
        return true
    }

    /// Index of the first `byte` in `storage[from..<end]`, or nil.
    @inline(__always)
    func find(_ byte: UInt8, from: Int) -> Int? {
        guard from < end, let hit = memchr(storage + from, Int32(byte), end - from) else { return nil }
        return storage.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// Consumes the next line and returns its bytes without the terminator (`\n` or `\r\n`),
    /// reading more input until the line is whole; nil at the end of input. The last line may
    /// lack a final newline. The range is valid until the next `fill()`.
    ///
    /// - Parameters:
    ///   - maxLength: the longest line the caller accepts; a longer one is an error instead of
    ///     unbounded buffer growth (binary data without line breaks).
    ///   - line: the line's number, for that error.
    /// - Throws: `.malformed` for an over-long line, and the source's errors.
    func nextLine(maxLength: Int = Int.max, line: Int = 0) throws -> Range<Int>? {
        var scanned = 0
        while true {
            if let newline = find(UInt8(ascii: "\n"), from: start + scanned) {
                let lower = start
                if newline - lower > maxLength { throw overlong(maxLength, line: line) }
                start = newline + 1
                var upper = newline
                if upper > lower && storage[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
                return lower..<upper
            }
            scanned = end - start
            if scanned > maxLength { throw overlong(maxLength, line: line) }
            if try !fill() {
                if start == end { return nil }
                let lower = start
                var upper = end
                start = end
                if upper > lower && storage[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
                return lower..<upper
            }
        }
    }

    private func overlong(_ maxLength: Int, line: Int) -> ProteinIOError {
        ProteinIOError(
            .malformed, file: name, line: line, byteOffset: offset(of: start),
            message: "expected a line of at most \(maxLength) bytes but found a longer one starting "
                + ByteEscaping.quoted(storage + start, count: end - start, limit: 16)
                + " (binary data or missing line breaks?)")
    }

    /// Consumes blank lines (only spaces, tabs, `\r` before `\n`) and returns how many; `start` is
    /// left at the first byte of the first non-blank line (or at the end of input). Looks at bytes
    /// one at a time, so a non-blank line is never read whole here.
    func skipBlankLines() throws -> Int {
        var lines = 0
        var scan = 0  // bytes after `start` known to be blank on the current line
        while true {
            if start + scan == end {
                if try !fill() {
                    start = end
                    return lines
                }
                continue
            }
            switch storage[start + scan] {
            case UInt8(ascii: "\n"):
                start += scan + 1
                scan = 0
                lines += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                scan += 1
            default:
                return lines
            }
        }
    }
}
