extension MPIReducer {
    /// Seconds of `repeats` all-reduces of `count` floats, each started after an `MPI_Barrier`
    /// so that it times the communication alone, not a wait for a slower rank. Collective.
    ///
    /// - Parameter bucket: elements per `MPI_Allreduce` call (`bucketElements` for the test).
    public func timeAllReduce(count: Int, repeats: Int, bucket: Int? = nil) -> [Double] {
        let saved = bucketElements
        if let bucket { bucketElements = bucket }
        defer { bucketElements = saved }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: Swift.max(count, 1))
        var times: [Double] = []
        for _ in 0..<repeats {
            barrier()
            let start = MPIReducer.wallTime()
            allReduce(sum: buffer, count: count)
            times.append(MPIReducer.wallTime() - start)
            // Keep the values small and finite: divide back after each sum.
            for i in 0..<count { buffer[i] = 1 }
        }
        return times
    }
}
