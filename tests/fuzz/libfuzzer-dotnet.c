/*
 * libFuzzer front end for a .NET fuzz target instrumented by SharpFuzz.
 *
 * libFuzzer runs in this process and mutates inputs; the managed target runs in a child process that
 * SharpFuzz's Fuzzer.LibFuzzer.Run drives. The two share one System V segment: the first 64 KiB are
 * the edge counters SharpFuzz's instrumentation bumps, the rest carries the input. Per input this side
 * clears the counters, writes the input and its length (control pipe), waits for the child's status
 * (status pipe; 0 = no exception) and copies the counters into libFuzzer's extra-counter section, which
 * libFuzzer reads as coverage. A non-zero status or a dead child is reported to libFuzzer as a crash,
 * except a child that exits with SKIP_EXIT_CODE, which is started again.
 *
 * The child is named by the environment, because libFuzzer owns the command line:
 *   FUZZ_TARGET_EXE  the instrumented target's executable
 *   FUZZ_TARGET_ARG  one argument passed to it (the target name)
 *
 * Build: clang -O1 -fsanitize=fuzzer -o libfuzzer-dotnet libfuzzer-dotnet.c
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNTER_BYTES (1 << 16)
#define MAX_INPUT_BYTES (1 << 20)
/* A target exits with this code for an input it cannot finish for a known reason outside our code (a
 * third-party loop it cannot cancel): the input counts as passed and the target is started again. */
#define SKIP_EXIT_CODE 77

/* Not static and marked used: nothing in this file reads it, libFuzzer does, so the compiler must keep every write. */
__attribute__((section("__libfuzzer_extra_counters"), used)) uint8_t coverage[COUNTER_BYTES];

static uint8_t *segment;
static int control_fd = -1;
static int status_fd = -1;
static pid_t child = -1;

static void die(const char *what)
{
    fprintf(stderr, "libfuzzer-dotnet: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int write_all(int fd, const void *data, size_t length)
{
    const uint8_t *p = data;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t length)
{
    uint8_t *p = data;
    while (length > 0) {
        ssize_t n = read(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

static void stop_child(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
}

static int shm_id_for_child = -1;
static const char *target_exe;
static const char *target_arg;
static long restarts;

static void start_child(void)
{
    int control[2], status[2];
    if (pipe(control) != 0 || pipe(status) != 0) die("pipe");

    child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        char value[32];
        close(control[1]);
        close(status[0]);
        snprintf(value, sizeof value, "%d", shm_id_for_child);
        setenv("__LIBFUZZER_SHM_ID", value, 1);
        snprintf(value, sizeof value, "%d", control[0]);
        setenv("__LIBFUZZER_CONTROL_PIPE_ID", value, 1);
        snprintf(value, sizeof value, "%d", status[1]);
        setenv("__LIBFUZZER_STATUS_PIPE_ID", value, 1);
        execl(target_exe, target_exe, target_arg, (char *)NULL);
        die("exec");
    }
    close(control[0]);
    close(status[1]);
    control_fd = control[1];
    status_fd = status[0];

    int32_t ready;
    if (read_all(status_fd, &ready, sizeof ready) != 0) {
        fprintf(stderr, "libfuzzer-dotnet: %s did not start (is it instrumented and calling Fuzzer.LibFuzzer.Run?)\n", target_exe);
        exit(1);
    }
}

/* Reaps a child that stopped; true when it stopped with SKIP_EXIT_CODE, i.e. it asked to be restarted. */
static int child_asked_for_restart(void)
{
    int wstatus = 0;
    close(control_fd);
    close(status_fd);
    if (waitpid(child, &wstatus, 0) != child) return 0;
    child = -1;
    return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == SKIP_EXIT_CODE;
}

static void report_restarts(void)
{
    if (restarts > 0) fprintf(stderr, "libfuzzer-dotnet: target restarted %ld times (inputs it skipped by exiting with %d)\n", restarts, SKIP_EXIT_CODE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *exe = getenv("FUZZ_TARGET_EXE");
    const char *arg = getenv("FUZZ_TARGET_ARG");
    if (exe == NULL || arg == NULL) {
        fprintf(stderr, "libfuzzer-dotnet: set FUZZ_TARGET_EXE and FUZZ_TARGET_ARG\n");
        exit(1);
    }

    int shm_id = shmget(IPC_PRIVATE, COUNTER_BYTES + MAX_INPUT_BYTES, IPC_CREAT | IPC_EXCL | 0600);
    if (shm_id < 0) die("shmget");
    segment = shmat(shm_id, NULL, 0);
    if (segment == (void *)-1) die("shmat");
    /* Marked for removal now: it lives until both processes detach, and never outlives them. */
    shmctl(shm_id, IPC_RMID, NULL);

    shm_id_for_child = shm_id;
    target_exe = exe;
    target_arg = arg;
    atexit(stop_child);
    atexit(report_restarts);
    signal(SIGPIPE, SIG_IGN);
    start_child();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT_BYTES) size = MAX_INPUT_BYTES;
    memset(segment, 0, COUNTER_BYTES);
    memcpy(segment + COUNTER_BYTES, data, size);
    int32_t length = (int32_t)size;
    int32_t status = -1;
    if (write_all(control_fd, &length, sizeof length) != 0 || read_all(status_fd, &status, sizeof status) != 0) {
        if (child_asked_for_restart()) {
            restarts++;
            start_child();
            return 0;
        }
        fprintf(stderr, "libfuzzer-dotnet: the .NET target died on this input\n");
        abort();
    }
    memcpy(coverage, segment, COUNTER_BYTES);
    if (status != 0) {
        fprintf(stderr, "libfuzzer-dotnet: the .NET target threw on this input (status %d)\n", status);
        abort();
    }
    return 0;
}
