#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive Double-precision twin of `GELU`: x·½(1 + erf(x/√2)) with the C library's Double erf.
public enum GELUReference {
    public static func forward(_ x: [Double]) -> [Double] {
        x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
    }
}
