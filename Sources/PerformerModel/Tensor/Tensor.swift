/// A Float32 tensor: one contiguous, row-major, 64-byte-aligned buffer that it owns, plus a shape.
///
/// `Tensor` is a final class on purpose: passing it around never copies the data, and writing into
/// it never triggers a copy-on-write, so a training step can reuse the same buffers every time.
/// Kernels work on raw pointers into it: `data` for the whole buffer, `matrix(_:)` for one
/// [rows, cols] slice of a batched tensor (e.g. one (batch, head) slice of [batch, heads, length,
/// headDim]). Views never own memory; they are valid while the tensor is alive.
///
/// Two tensors never share storage, and a tensor is not synchronised: concurrent writers must
/// write disjoint slices (as the attention kernels do, one slice per worker).
public final class Tensor {
    /// The dimensions, outermost first; the last one is contiguous.
    public let shape: [Int]
    /// Number of elements, the product of `shape` (1 for a scalar, shape []).
    public let count: Int
    /// Start of the owned buffer of `count` floats.
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of the given shape. Every dimension must be ≥ 0.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        self.data = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        data.initialize(repeating: 0, count: Swift.max(count, 1))
    }

    /// A tensor holding a copy of `values` (row-major), whose count must match the shape.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { data.update(from: base, count: count) }
        }
    }

    deinit {
        UnsafeMutableRawPointer(data).deallocate()
    }

    /// The whole buffer as a buffer pointer (a view; no copy).
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// A copy of the contents as an array (for tests, printing and interop; not for hot paths).
    public var array: [Float] { Array(buffer) }

    /// Element at a flat (row-major) index.
    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
            return data[index]
        }
        set {
            precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
            data[index] = newValue
        }
    }

    /// Number of rows of the trailing matrix: `shape[rank-2]` (1 for rank < 2).
    public var rows: Int { shape.count >= 2 ? shape[shape.count - 2] : 1 }
    /// Number of columns of the trailing matrix: `shape[rank-1]` (1 for a scalar).
    public var columns: Int { shape.last ?? 1 }
    /// Number of [rows, columns] matrices when the leading dimensions are flattened.
    public var matrixCount: Int { rows * columns == 0 ? 0 : count / (rows * columns) }

    /// Pointer to matrix `index` of the tensor seen as [matrixCount, rows, columns]; for
    /// [batch, heads, length, headDim] the slice (b, h) is `matrix(b * heads + h)`.
    @inlinable
    public func matrix(_ index: Int) -> UnsafeMutablePointer<Float> {
        precondition(index >= 0 && index < matrixCount, "matrix \(index) out of range 0..<\(matrixCount)")
        return data + index * rows * columns
    }

    /// Sets every element to zero (gradients are zeroed once per step, then accumulated).
    public func zero() {
        data.update(repeating: 0, count: count)
    }

    /// Copies the contents of `other`, which must have the same number of elements.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
