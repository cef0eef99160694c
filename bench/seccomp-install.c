// Time installing a seccomp program that hutch cached in its state
// directory (`seccomp-*.bpf`: required and if-known flags, the instruction
// count, then the instructions), in fresh children that have set
// no_new_privs: the CPU time of the seccomp(2) call, median and spread.
//   cc -O2 -o seccomp-install bench/seccomp-install.c
//   ./seccomp-install STATE_DIR/seccomp-HASH.bpf [CHILDREN]
// CPU time of the calling thread, so that other load on the machine does
// not count. Only the first program of the file is installed.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  if(argc<2){fprintf(stderr,"usage: %s FILE.bpf [CHILDREN]\n",argv[0]);return 2;}
  FILE*f=fopen(argv[1],"rb"); if(!f){perror(argv[1]);return 1;}
  static unsigned char buf[65536]; size_t n=fread(buf,1,sizeof buf,f);
  if(n<12){fprintf(stderr,"%s: not a cached program\n",argv[1]);return 1;}
  uint32_t flags; memcpy(&flags,buf+4,4); uint32_t len; memcpy(&len,buf+8,4);
  struct sock_fprog p={.len=len,.filter=(struct sock_filter*)(buf+12)};
  int N=argc>2?atoi(argv[2]):200; double*ts=malloc(N*sizeof(double)); int fd[2]; pipe(fd);
  
  for(int i=0;i<N;i++){
    pid_t c=fork();
    if(!c){prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0);double a=now();
      long r=syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,flags,&p);double b=now();
      if(r){perror("seccomp");_exit(1);} double d=b-a; write(fd[1],&d,8);
      _exit(0);}
    int st; waitpid(c,&st,0); if(st){fprintf(stderr,"the kernel refused the program\n");return 1;} read(fd[0],&ts[i],8);
  }
  qsort(ts,N,sizeof(double),cmp);
  printf("%s: %u insns, install median %.1f us, p10 %.1f, p90 %.1f\n",argv[1],len,ts[N/2],ts[N/10],ts[N*9/10]);
}
