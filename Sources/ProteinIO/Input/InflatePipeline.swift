#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a `GzipDecoder` on a background thread that fills a small ring of decompressed blocks,
/// while the calling thread takes bytes out of the ring with `read(into:)`.
///
/// On a two-core machine inflate and parsing overlap, so parsing a `.gz` file costs little more
/// than inflating it. Memory is `slots × blockSize` bytes, independent of the file size.
///
/// Protocol (one mutex, two condition variables): the producer waits for a free slot
/// (`filled < slots`), fills it *without* holding the lock, then publishes it (`filled += 1`).
/// The consumer waits for a published slot, copies out of it without the lock, and releases it
/// when empty (`filled -= 1`). A decoder error is stored and thrown to the consumer only after
/// every block produced before it has been delivered. `cancel()` (from `deinit` of the owner)
/// stops the producer and joins the thread.
final class InflatePipeline: @unchecked Sendable {
    private let decoder: GzipDecoder
    private let slots: Int
    private let blockSize: Int
    private let storage: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let canRead: UnsafeMutablePointer<pthread_cond_t>
    private let canWrite: UnsafeMutablePointer<pthread_cond_t>
    private var thread: pthread_t?

    // Shared state, guarded by `mutex`.
    private var filled = 0
    private var producerDone = false
    private var failure: ProteinIOError?
    private var cancelled = false

    // Consumer-only state.
    private var readSlot = 0
    private var holding = false
    private var holdOffset = 0
    private var consumerFinished = false
    private var consumerError: ProteinIOError?

    init(decoder: GzipDecoder, blockSize: Int, slots: Int = 4) {
        precondition(blockSize > 0 && slots > 1)
        self.decoder = decoder
        self.slots = slots
        self.blockSize = blockSize
        storage = UnsafeMutableRawPointer.allocate(byteCount: slots * blockSize, alignment: 64)
        lengths = UnsafeMutablePointer<Int>.allocate(capacity: slots)
        lengths.initialize(repeating: 0, count: slots)
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        canRead = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        canWrite = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(canRead, nil)
        pthread_cond_init(canWrite, nil)
    }

    deinit {
        cancel()
        pthread_cond_destroy(canWrite)
        pthread_cond_destroy(canRead)
        pthread_mutex_destroy(mutex)
        canWrite.deallocate()
        canRead.deallocate()
        mutex.deallocate()
        lengths.deallocate()
        storage.deallocate()
    }

    /// Starts the inflate thread. Returns false if no thread could be created (the caller then
    /// inflates synchronously).
    func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            let pipeline = Unmanaged<InflatePipeline>.fromOpaque(raw!).takeRetainedValue()
            pipeline.produce()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<InflatePipeline>.fromOpaque(context).release()
            return false
        }
        thread = handle
        return true
    }

    /// Stops the producer (if running) and waits for it to exit.
    func cancel() {
        guard let handle = thread else { return }
        pthread_mutex_lock(mutex)
        cancelled = true
        pthread_cond_broadcast(canWrite)
        pthread_mutex_unlock(mutex)
        pthread_join(handle, nil)
        thread = nil
    }

    private func produce() {
        var writeSlot = 0
        while true {
            pthread_mutex_lock(mutex)
            while filled == slots && !cancelled { pthread_cond_wait(canWrite, mutex) }
            let stop = cancelled
            pthread_mutex_unlock(mutex)
            if stop { return }

            let block = UnsafeMutableRawBufferPointer(start: storage + writeSlot * blockSize, count: blockSize)
            let n: Int
            do {
                n = try decoder.fill(into: block)
            } catch let error as ProteinIOError {
                finish(with: error)
                return
            } catch {
                finish(with: ProteinIOError(.io, file: "", message: "\(error)"))
                return
            }
            if n == 0 {
                finish(with: nil)
                return
            }
            pthread_mutex_lock(mutex)
            lengths[writeSlot] = n
            filled += 1
            pthread_cond_signal(canRead)
            pthread_mutex_unlock(mutex)
            writeSlot = (writeSlot + 1) % slots
        }
    }

    private func finish(with error: ProteinIOError?) {
        pthread_mutex_lock(mutex)
        failure = error
        producerDone = true
        pthread_cond_signal(canRead)
        pthread_mutex_unlock(mutex)
    }

    /// Copies up to `buffer.count` decompressed bytes (never more than what remains of the current
    /// block); returns 0 only after the whole stream has been delivered.
    ///
    /// - Throws: the decoder's error, after all bytes produced before it.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if consumerFinished {
            if let consumerError { throw consumerError }
            return 0
        }
        if buffer.isEmpty { return 0 }
        while true {
            if holding {
                let length = lengths[readSlot]
                if holdOffset < length {
                    let n = min(buffer.count, length - holdOffset)
                    buffer.baseAddress!.copyMemory(from: storage + readSlot * blockSize + holdOffset, byteCount: n)
                    holdOffset += n
                    return n
                }
                pthread_mutex_lock(mutex)
                filled -= 1
                pthread_cond_signal(canWrite)
                pthread_mutex_unlock(mutex)
                holding = false
                readSlot = (readSlot + 1) % slots
            }
            pthread_mutex_lock(mutex)
            while filled == 0 && !producerDone { pthread_cond_wait(canRead, mutex) }
            let available = filled > 0
            let error = failure
            pthread_mutex_unlock(mutex)
            if available {
                holding = true
                holdOffset = 0
                continue
            }
            consumerFinished = true
            consumerError = error
            if let error { throw error }
            return 0
        }
    }
}
