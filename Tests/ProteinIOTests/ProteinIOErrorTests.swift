import Testing
@testable import ProteinIO

@Suite struct ProteinIOErrorTests {
    @Test func descriptionNamesFileLineByteAndRecord() {
        let error = ProteinIOError(.integrity, file: "sprot.dat", line: 4812, byteOffset: 301224,
                                   recordID: "P69905", message: "SQ says 142 residues, read 141")
        #expect(error.description == "sprot.dat:4812 (byte 301224, P69905): SQ says 142 residues, read 141")
    }

    @Test func descriptionWithoutLineOrRecord() {
        let error = ProteinIOError(.corruptGzip, file: "x.gz", message: "CRC mismatch")
        #expect(error.description == "x.gz: CRC mismatch")
    }
}
