// SIGKILL teardown probe (benchmarks/probes/teardown.py): listens on 127.0.0.1:PORT, accepts one connection, waits.
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(0x7f000001);
  bind(s, (void*)&a, sizeof a); listen(s, 16);
  int c = accept(s, 0, 0); (void)c;
  for (;;) pause();
}
