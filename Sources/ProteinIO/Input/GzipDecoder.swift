import CZlib

/// Inflates a gzip stream of one or more members (RFC 1952) from a `RawInput`, synchronously.
///
/// The first member is opened with `inflateInit2(…, 15 + 32)` (zlib detects the gzip header);
/// after a member ends, the next bytes must be the gzip magic `1f 8b` of another member (then
/// `inflateReset2` with 15 + 16 reads its header), so `cat a.gz b.gz` and bgzip files read as one stream. zlib verifies each
/// member's CRC-32 and length (ISIZE) trailer. Every failure is an error, never a short read:
/// - corrupt deflate data, a bad header, a CRC or length mismatch → `.corruptGzip`;
/// - bytes after a member that are not another gzip member (trailing garbage, zero padding)
///   → `.corruptGzip`;
/// - input that ends inside a member → `.truncated`.
/// Errors put the *compressed* offset in `byteOffset` (and say so in the message).
final class GzipDecoder: @unchecked Sendable {
    private let input: RawInput
    private let stream: UnsafeMutablePointer<z_stream>
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var inputEOF = false
    private var finished = false
    /// True between a member's end and the first byte of what follows it.
    private var memberEnded = false
    /// 1-based index of the member being inflated.
    private var member = 1
    /// Compressed offset of the current member's first byte.
    private var memberStart = 0
    /// Compressed bytes consumed by inflate so far.
    private var consumed = 0
    /// Decompressed bytes produced so far.
    private var produced = 0
    /// The bytes read after a member ended, while checking that they start another member.
    private var memberLead: [UInt8] = []
    /// An error met after some bytes of the current `fill` were written; thrown by the next call.
    private var pendingError: ProteinIOError?

    /// - Throws: `.corruptGzip` if zlib cannot be initialised.
    init(input: RawInput) throws {
        self.input = input
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        inputBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: input.chunkLimit, alignment: 64)
        let rc = inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        if rc != Z_OK {
            inputBuffer.deallocate()
            stream.deallocate()
            throw ProteinIOError(.corruptGzip, file: input.name, message: "zlib inflateInit2 failed (code \(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        inputBuffer.deallocate()
    }

    /// Fills `output` with decompressed bytes; returns fewer than `output.count` only at the end
    /// of the last member, and 0 once everything has been delivered.
    ///
    /// - Throws: `.corruptGzip`, `.truncated` (see the type's summary), `.io` from the input.
    func fill(into output: UnsafeMutableRawBufferPointer) throws -> Int {
        if let pendingError { throw pendingError }
        if finished || output.isEmpty { return 0 }
        var written = 0
        while written < output.count {
            if stream.pointee.avail_in == 0 && !inputEOF {
                let n = try input.read(into: inputBuffer)
                if n == 0 {
                    inputEOF = true
                } else {
                    stream.pointee.next_in = inputBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    stream.pointee.avail_in = UInt32(n)
                }
            }
            if memberEnded {
                // Bytes after a complete member must be another member: check its magic ourselves
                // (so the message can show the bytes), then let zlib parse the rest of the header.
                while memberLead.count < 2 {
                    if stream.pointee.avail_in == 0 {
                        if !inputEOF { break }
                        if memberLead.isEmpty {
                            finished = true
                            return written
                        }
                        // A lone 0x1f at the end: a member cut off in its magic.
                        member += 1
                        memberStart = consumed - memberLead.count
                        return try deliver(written, error: truncatedError())
                    }
                    memberLead.append(stream.pointee.next_in.pointee)
                    stream.pointee.next_in += 1
                    stream.pointee.avail_in -= 1
                    consumed += 1
                    if memberLead != [0x1F] && memberLead != [0x1F, 0x8B] {
                        return try deliver(written, error: trailingGarbageError())
                    }
                }
                if memberLead.count < 2 { continue }  // need more input for the magic
                memberEnded = false
                member += 1
                memberStart = consumed - 2
                var rc = inflateReset2(stream, 15 + 16)
                if rc == Z_OK {
                    // Feed the two magic bytes, then resume with the buffered input.
                    let savedInput = stream.pointee.next_in
                    let savedCount = stream.pointee.avail_in
                    var magic: [UInt8] = [0x1F, 0x8B]
                    rc = magic.withUnsafeMutableBufferPointer { magicBuffer in
                        stream.pointee.next_in = magicBuffer.baseAddress
                        stream.pointee.avail_in = 2
                        stream.pointee.next_out = (output.baseAddress! + written).assumingMemoryBound(to: UInt8.self)
                        stream.pointee.avail_out = 0
                        return inflate(stream, Z_NO_FLUSH)
                    }
                    let fed = stream.pointee.avail_in == 0
                    stream.pointee.next_in = savedInput
                    stream.pointee.avail_in = savedCount
                    if (rc == Z_OK || rc == Z_BUF_ERROR) && fed { rc = Z_OK }
                }
                memberLead = []
                if rc != Z_OK {
                    return try deliver(written, error: ProteinIOError(
                        .corruptGzip, file: input.name, byteOffset: memberStart,
                        message: "zlib could not start gzip member \(member) (code \(rc))"))
                }
            }
            let room = min(output.count - written, Int(UInt32.max))
            stream.pointee.next_out = (output.baseAddress! + written).assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(room)
            let inBefore = Int(stream.pointee.avail_in)
            let rc = inflate(stream, Z_NO_FLUSH)
            let usedIn = inBefore - Int(stream.pointee.avail_in)
            let madeOut = room - Int(stream.pointee.avail_out)
            consumed += usedIn
            written += madeOut
            produced += madeOut
            switch rc {
            case Z_STREAM_END:
                memberEnded = true
            case Z_OK, Z_BUF_ERROR:
                if stream.pointee.avail_in == 0 && inputEOF && usedIn == 0 && madeOut == 0 {
                    return try deliver(written, error: truncatedError())
                }
            default:
                return try deliver(written, error: dataError(rc))
            }
        }
        return written
    }

    /// Returns the bytes already written in this call and keeps `error` for the next call, so
    /// good data before a fault is never lost; throws at once when nothing was written.
    private func deliver(_ written: Int, error: ProteinIOError) throws -> Int {
        pendingError = error
        if written == 0 { throw error }
        return written
    }

    private func trailingGarbageError() -> ProteinIOError {
        var shown = memberLead
        let extra = min(4 - shown.count, Int(stream.pointee.avail_in))
        if extra > 0 { shown += UnsafeBufferPointer(start: stream.pointee.next_in, count: extra) }
        let start = consumed - memberLead.count
        return ProteinIOError(
            .corruptGzip, file: input.name, byteOffset: start,
            message: "trailing data after gzip member \(member) (which ends at compressed byte \(start)): "
                + "expected another member's magic '\\x1f\\x8b' or the end of the file but found "
                + ByteEscaping.quoted(shown))
    }

    private func truncatedError() -> ProteinIOError {
        ProteinIOError(
            .truncated, file: input.name, byteOffset: consumed,
            message: "gzip stream ends inside member \(member) (which starts at compressed byte "
                + "\(memberStart)) after \(produced) decompressed bytes: expected more deflate data "
                + "and the 8-byte CRC-32/length trailer, found end of input at compressed byte \(consumed)")
    }

    private func dataError(_ rc: Int32) -> ProteinIOError {
        let zlibMessage = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
        let what: String
        switch zlibMessage {
        case "incorrect data check": what = "CRC-32 mismatch (the decompressed data does not match the member's checksum)"
        case "incorrect length check": what = "length mismatch (the member's ISIZE does not match the decompressed size)"
        default: what = "corrupt data (\(zlibMessage))"
        }
        return ProteinIOError(
            .corruptGzip, file: input.name, byteOffset: consumed,
            message: "gzip \(what) in member \(member) (which starts at compressed byte \(memberStart)), "
                + "at compressed byte \(consumed), after \(produced) decompressed bytes")
    }
}
