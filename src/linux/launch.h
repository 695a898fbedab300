/* srt-init launch: what a program using the library spawns. Connects to the runtime, receives bwrap's arguments and executes bwrap. */
#ifndef SRT_LINUX_LAUNCH_H
#define SRT_LINUX_LAUNCH_H

/* argv: SOCKET TOKEN (without "launch"). Returns an exit status only when
 * it failed (125); else it does not return. */
int launch_main(int argc, char **argv);

#endif
