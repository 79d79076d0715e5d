/// The safetensors checkpoint format (Hugging Face, https://huggingface.co/docs/safetensors),
/// the layout both `SafeTensorsWriter` and `SafeTensorsReader` follow:
///
/// ```
/// bytes 0 ..< 8        N, the header length, unsigned 64-bit little-endian
/// bytes 8 ..< 8+N      UTF-8 JSON object, padded with trailing spaces:
///                      {"__metadata__": {"key": "value", …},
///                       "name": {"dtype": "F32", "shape": [256, 128], "data_offsets": [begin, end]}, …}
/// bytes 8+N ..< end    the data area: each tensor's raw little-endian elements, row-major, at
///                      data_offsets relative to byte 8+N; the tensors cover it without gaps
///                      or overlaps.
/// ```
///
/// What this implementation writes (see `SafeTensorsWriter`): `__metadata__` first (omitted when
/// empty) with its keys sorted, then the tensors in data order, which is by element size
/// (largest first, so every tensor stays aligned to its element size), then by name (UTF-8
/// byte order); N is a multiple of 8, so the data area starts 8-byte aligned. The same tensors
/// and metadata always give the same bytes.
///
/// Elements are written and read in host byte order, which is little-endian on every platform
/// Swift targets on Linux and Apple systems.
public enum SafeTensors {
    /// The element types of the format, by their header names.
    public enum DType: String, Sendable, CaseIterable, Codable {
        case bool = "BOOL"
        case u8 = "U8"
        case i8 = "I8"
        case f8E5M2 = "F8_E5M2"
        case f8E4M3 = "F8_E4M3"
        case i16 = "I16"
        case u16 = "U16"
        case f16 = "F16"
        case bf16 = "BF16"
        case i32 = "I32"
        case u32 = "U32"
        case f32 = "F32"
        case f64 = "F64"
        case i64 = "I64"
        case u64 = "U64"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .bool, .u8, .i8, .f8E5M2, .f8E4M3: return 1
            case .i16, .u16, .f16, .bf16: return 2
            case .i32, .u32, .f32: return 4
            case .f64, .i64, .u64: return 8
            }
        }
    }

    /// One tensor's entry in a header.
    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        /// Dimensions, outermost first; [] is a scalar (one element).
        public var shape: [Int]
        /// Byte range of the elements, relative to the start of the data area (the header's
        /// `data_offsets`).
        public var dataOffsets: Range<Int>

        public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.dataOffsets = dataOffsets
        }

        /// Number of elements, the product of `shape`.
        public var elementCount: Int { shape.reduce(1, *) }
        /// Number of bytes, `elementCount × dtype.size`.
        public var byteCount: Int { dataOffsets.count }
    }

    /// The name reserved for the string-to-string metadata object.
    public static let metadataKey = "__metadata__"

    /// Largest header accepted when reading (the same limit as the reference implementation,
    /// 100 MB): a corrupt length field cannot make the reader allocate gigabytes.
    public static let maximumHeaderLength = 100_000_000

    /// `[256, 128]`, the way shapes appear in error messages.
    public static func describe(shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }

    /// Number of elements of `shape`, or nil when a dimension is negative or the product
    /// (times `elementSize`) overflows `Int`.
    static func byteCount(shape: [Int], elementSize: Int) -> Int? {
        var total = elementSize
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }
}

#if _endian(big)
#error("SafeTensors writes host-order elements and assumes a little-endian host")
#endif
