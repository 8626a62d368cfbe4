// Clang's thread-safety attributes (-Wthread-safety), so that the compiler checks which lock
// guards what; they expand to nothing on other compilers. scripts/check-thread-safety.sh builds
// the library with the check on.
#ifndef NOTNETS_RPC_THREAD_ANNOTATIONS_H_
#define NOTNETS_RPC_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define NOTNETS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NOTNETS_THREAD_ANNOTATION(x)
#endif

// A type whose objects are locks.
#define NOTNETS_CAPABILITY(name) NOTNETS_THREAD_ANNOTATION(capability(name))
// An RAII type that holds a lock for its lifetime.
#define NOTNETS_SCOPED_CAPABILITY NOTNETS_THREAD_ANNOTATION(scoped_lockable)
// Data read and written only with the lock held.
#define NOTNETS_GUARDED_BY(lock) NOTNETS_THREAD_ANNOTATION(guarded_by(lock))
// A function called only with the lock held.
#define NOTNETS_REQUIRES(...) NOTNETS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// A function called only without the lock (it takes it).
#define NOTNETS_EXCLUDES(...) NOTNETS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// A function that takes the lock and returns with it held.
#define NOTNETS_ACQUIRE(...) NOTNETS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
// A function that lets go of a held lock.
#define NOTNETS_RELEASE(...) NOTNETS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// A function that takes the lock when it returns the value given first.
#define NOTNETS_TRY_ACQUIRE(...) NOTNETS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define NOTNETS_NO_THREAD_SAFETY_ANALYSIS NOTNETS_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // NOTNETS_RPC_THREAD_ANNOTATIONS_H_
