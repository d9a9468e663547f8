// What a wake-up costs on this machine without HaKit: one process sleeps and sends a datagram on loopback, another blocks in recv.
// gcc -O2 -o wake wake.c && ./wake 200 50   (200 datagrams, 50 ms apart; prints CPU per wake-up of each side)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/wait.h>
int main(int argc,char**argv){
  int n=atoi(argv[1]); int period_ms=atoi(argv[2]);
  int r=socket(AF_INET,SOCK_DGRAM,0), s=socket(AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(0x7f000001)};
  bind(r,(void*)&a,sizeof a); socklen_t l=sizeof a; getsockname(r,(void*)&a,&l);
  pid_t p=fork();
  if(p==0){ char b[200]; for(int i=0;i<n;i++){ recv(r,b,sizeof b,0);} struct rusage u; getrusage(RUSAGE_SELF,&u);
    printf("receiver: %d wakes, cpu %.1f us/wake\n",n,(u.ru_utime.tv_sec*1e6+u.ru_utime.tv_usec+u.ru_stime.tv_sec*1e6+u.ru_stime.tv_usec)/n); return 0;}
  char b[180]; memset(b,1,sizeof b); struct timespec t={0,period_ms*1000000L};
  for(int i=0;i<n;i++){ nanosleep(&t,0); sendto(s,b,sizeof b,0,(void*)&a,sizeof a);} 
  struct rusage u; getrusage(RUSAGE_SELF,&u);
  printf("sender: %d wakes, cpu %.1f us/wake\n",n,(u.ru_utime.tv_sec*1e6+u.ru_utime.tv_usec+u.ru_stime.tv_sec*1e6+u.ru_stime.tv_usec)/n);
  wait(0);
}
