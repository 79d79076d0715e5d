/// A reusable growable byte buffer that collects one record's residues across lines and blocks,
/// then hands them out as an `[UInt8]` with a single copy.
///
/// After a record longer than 16 MiB it shrinks back to 1 MiB, so one huge record does not pin
/// its memory for the rest of the file.
final class ResidueBuffer {
    private(set) var storage: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    private(set) var count = 0

    private static let initialCapacity = 1 << 16
    private static let shrinkAbove = 16 << 20
    private static let shrinkTo = 1 << 20

    init() {
        capacity = ResidueBuffer.initialCapacity
        storage = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// Starts a new record.
    func reset() {
        count = 0
        if capacity > ResidueBuffer.shrinkAbove {
            storage.deallocate()
            capacity = ResidueBuffer.shrinkTo
            storage = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        }
    }

    @inline(__always)
    private func reserve(_ extra: Int) {
        if count + extra <= capacity { return }
        var newCapacity = capacity * 2
        while newCapacity < count + extra { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }

    /// Appends the residues among `bytes[0..<length]`, dropping spaces and tabs. Returns nil, or
    /// the index of the first invalid byte (see `ResidueBytes`); bytes before it are kept.
    @inline(__always)
    func appendLine(_ bytes: UnsafePointer<UInt8>, count length: Int) -> Int? {
        if length == 0 { return nil }
        reserve(length)
        if ResidueBytes.copyResidues(from: bytes, to: storage + count, count: length) {
            count += length
            return nil
        }
        return ResidueBytes.classTable.withUnsafeBufferPointer { table in
            var n = count
            defer { count = n }
            for i in 0..<length {
                let byte = bytes[i]
                switch table[Int(byte)] {
                case ResidueBytes.Class.residue.rawValue:
                    storage[n] = byte
                    n += 1
                case ResidueBytes.Class.skipped.rawValue:
                    continue
                default:
                    return i
                }
            }
            return nil
        }
    }

    /// The collected residues as an array. (`Array(UnsafeBufferPointer)` measured several times
    /// faster than `Array(unsafeUninitializedCapacity:)` for record-sized arrays.)
    func makeArray() -> [UInt8] {
        Array(UnsafeBufferPointer(start: storage, count: count))
    }
}
