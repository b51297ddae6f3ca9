; Small native helpers the C# kernel cannot express: port I/O, single-width MMIO accesses,
; control registers, the runtime entry points ILC-generated code calls (write barriers,
; interface dispatch, P/Invoke transitions), interrupt entry stubs and the thread switch.
; Calling convention: System V AMD64 (rdi, rsi, rdx, rcx, r8, r9; result in rax).

bits 64
section .text

; ---------------------------------------------------------------- port I/O
global PortIn8, PortIn16, PortIn32, PortOut8, PortOut16, PortOut32
PortIn8:    mov edx, edi
            xor eax, eax
            in al, dx
            ret
PortIn16:   mov edx, edi
            xor eax, eax
            in ax, dx
            ret
PortIn32:   mov edx, edi
            in eax, dx
            ret
PortOut8:   mov edx, edi
            mov eax, esi
            out dx, al
            ret
PortOut16:  mov edx, edi
            mov eax, esi
            out dx, ax
            ret
PortOut32:  mov edx, edi
            mov eax, esi
            out dx, eax
            ret

; ---------------------------------------------------------------- MMIO: exactly one access each
global MmioRead8, MmioRead16, MmioRead32, MmioRead64, MmioWrite8, MmioWrite16, MmioWrite32, MmioWrite64
MmioRead8:   movzx eax, byte [rdi]
             ret
MmioRead16:  movzx eax, word [rdi]
             ret
MmioRead32:  mov eax, dword [rdi]
             ret
MmioRead64:  mov rax, qword [rdi]
             ret
MmioWrite8:  mov byte [rdi], sil
             ret
MmioWrite16: mov word [rdi], si
             ret
MmioWrite32: mov dword [rdi], esi
             ret
MmioWrite64: mov qword [rdi], rsi
             ret

; ---------------------------------------------------------------- CPU control
global CpuCli, CpuSti, CpuHlt, CpuPause, CpuSaveFlagsCli, CpuRestoreFlags, CpuReadCr2, CpuReadCr3, CpuWriteCr3
global CpuReadCr0, CpuReadCr4, CpuInvlpg, CpuLoadIdt, CpuLoadGdt, CpuLoadTr, CpuReadTsc, CpuReadMsr, CpuWriteMsr, CpuId
global CpuStiHlt, CpuReadRsp, CpuReadRbp, CpuReloadSegments
CpuCli:      cli
             ret
CpuSti:      sti
             ret
CpuHlt:      hlt
             ret
CpuStiHlt:   sti
             hlt
             ret
CpuPause:    pause
             ret
CpuSaveFlagsCli:
             pushfq
             pop rax
             cli
             ret
CpuRestoreFlags:
             push rdi
             popfq
             ret
CpuReadCr0:  mov rax, cr0
             ret
CpuReadCr2:  mov rax, cr2
             ret
CpuReadCr3:  mov rax, cr3
             ret
CpuReadCr4:  mov rax, cr4
             ret
CpuWriteCr3: mov cr3, rdi
             ret
CpuInvlpg:   invlpg [rdi]
             ret
CpuLoadIdt:  lidt [rdi]
             ret
CpuLoadGdt:  lgdt [rdi]
             ret
CpuLoadTr:   ltr di
             ret
CpuReadRsp:  lea rax, [rsp + 8]
             ret
CpuReadRbp:  mov rax, rbp
             ret
; CpuReloadSegments(codeSelector, dataSelector)
CpuReloadSegments:
             mov ax, si
             mov ds, ax
             mov es, ax
             mov ss, ax
             pop rax                ; return address
             push rdi
             push rax
             retfq
CpuReadTsc:  rdtsc
             shl rdx, 32
             or rax, rdx
             ret
CpuReadMsr:  mov ecx, edi
             rdmsr
             shl rdx, 32
             or rax, rdx
             ret
CpuWriteMsr: mov ecx, edi
             mov eax, esi
             mov rdx, rsi
             shr rdx, 32
             wrmsr
             ret
; CpuId(leaf, subleaf, uint* out4)
CpuId:       push rbx
             mov eax, edi
             mov ecx, esi
             mov r8, rdx
             cpuid
             mov [r8], eax
             mov [r8 + 4], ebx
             mov [r8 + 8], ecx
             mov [r8 + 12], edx
             pop rbx
             ret

; ---------------------------------------------------------------- runtime entry points for ILC code
global RhpAssignRef, RhpCheckedAssignRef, RhpByRefAssignRef, RhpCheckedLockCmpXchg, RhpCheckedXchg
global RhpPInvoke, RhpPInvokeReturn, RhpReversePInvoke, RhpReversePInvokeReturn, RhpGcPoll
global RhpInitialDynamicInterfaceDispatch, RhpInitialInterfaceDispatch, __security_cookie, RhpStackProbe
; No moving or generational GC: write barriers are plain stores.
RhpAssignRef:
RhpCheckedAssignRef:
             mov [rdi], rsi
             ret
RhpByRefAssignRef:
             mov rcx, [rsi]
             mov [rdi], rcx
             add rdi, 8
             add rsi, 8
             ret
RhpCheckedLockCmpXchg:
             mov rax, rdx
             lock cmpxchg [rdi], rsi
             ret
RhpCheckedXchg:
             mov rax, rsi
             xchg [rdi], rax
             ret
RhpPInvoke:
RhpPInvokeReturn:
RhpReversePInvoke:
RhpReversePInvokeReturn:
RhpGcPoll:
RhpStackProbe:
             ret

extern RhpResolveInterfaceDispatch
; The object is in rdi, the dispatch cell in r11. Resolve (cached) and tail-jump to the target
; with every argument register intact.
RhpInitialDynamicInterfaceDispatch:
RhpInitialInterfaceDispatch:
             push rbp
             mov rbp, rsp
             push rdi
             push rsi
             push rdx
             push rcx
             push r8
             push r9
             sub rsp, 8 * 16 + 8          ; xmm0-7 (+8 keeps 16-byte alignment)
             movdqu [rsp + 0], xmm0
             movdqu [rsp + 16], xmm1
             movdqu [rsp + 32], xmm2
             movdqu [rsp + 48], xmm3
             movdqu [rsp + 64], xmm4
             movdqu [rsp + 80], xmm5
             movdqu [rsp + 96], xmm6
             movdqu [rsp + 112], xmm7
             mov rsi, r11
             and rsp, -16
             call RhpResolveInterfaceDispatch
             lea rsp, [rbp - 6 * 8 - (8 * 16 + 8)]
             movdqu xmm0, [rsp + 0]
             movdqu xmm1, [rsp + 16]
             movdqu xmm2, [rsp + 32]
             movdqu xmm3, [rsp + 48]
             movdqu xmm4, [rsp + 64]
             movdqu xmm5, [rsp + 80]
             movdqu xmm6, [rsp + 96]
             movdqu xmm7, [rsp + 112]
             add rsp, 8 * 16 + 8
             pop r9
             pop r8
             pop rcx
             pop rdx
             pop rsi
             pop rdi
             pop rbp
             jmp rax

section .data
align 8
__security_cookie: dq 0x2B992DDFA232D6A5
section .text

; ---------------------------------------------------------------- interrupts
; Each vector's stub pushes an error code (0 when the CPU pushes none) and the vector number,
; then the common path saves all general registers and the SSE state and calls
; InterruptDispatch(frame*) which returns the stack pointer to resume (a thread switch
; returns another thread's saved frame).
extern InterruptDispatch

%macro ISR_NOERR 1
isr_stub_%1:
    push qword 0
    push qword %1
    jmp interrupt_common
%endmacro
%macro ISR_ERR 1
isr_stub_%1:
    push qword %1
    jmp interrupt_common
%endmacro

%assign i 0
%rep 256
%if i == 8 || i == 10 || i == 11 || i == 12 || i == 13 || i == 14 || i == 17 || i == 21 || i == 29 || i == 30
    ISR_ERR i
%else
    ISR_NOERR i
%endif
%assign i i+1
%endrep

; Frame layout (from rsp up): fxsave area (512, 16-aligned) + pad, r15..rax, vector, error, rip, cs, rflags, rsp, ss
interrupt_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rbx, rsp                 ; rbx = register frame (callee-saved across the call)
    sub rsp, 512 + 16
    and rsp, -16
    fxsave [rsp]
    mov [rsp + 512], rbx         ; remember the register frame above the FPU area
    mov rdi, rsp                 ; argument: pointer to the FPU area (frame start)
    cld
    call InterruptDispatch
    mov rsp, rax                 ; possibly another thread's frame
    fxrstor [rsp]
    mov rsp, [rsp + 512]
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                  ; vector and error code
    iretq

section .rodata
global InterruptStubTable
align 8
InterruptStubTable:
%assign i 0
%rep 256
    dq isr_stub_%+i
%assign i i+1
%endrep

section .text
; A new thread starts here (its first frame's rip): rdi = entry function, rsi = argument.
extern ThreadTrampoline
global ThreadStart
ThreadStart:
    and rsp, -16
    call ThreadTrampoline
.hang:
    cli
    hlt
    jmp .hang

; ---------------------------------------------------------------- image bounds (linker symbols)
extern __kernel_start
extern __kernel_end
global KernelImageStart, KernelImageEnd
KernelImageStart:
    mov rax, __kernel_start
    ret
KernelImageEnd:
    mov rax, __kernel_end
    ret

global GetInterruptStubTable
GetInterruptStubTable:
    mov rax, InterruptStubTable
    ret

global CpuYield
; Enters the scheduler through the yield vector (works with interrupts disabled).
CpuYield:
    int 0x81
    ret

global GetThreadStartAddress
GetThreadStartAddress:
    mov rax, ThreadStart
    ret

; The object heap's first 8 MiB, before the memory map is known (zeroed by the loader).
EARLY_HEAP_SIZE equ 8 * 1024 * 1024
section .bss
align 4096
early_heap: resb EARLY_HEAP_SIZE
section .text
global GetEarlyHeap
GetEarlyHeap:
    mov rax, early_heap
    ret

; GcCollectWithRegisters(collector): pushes the callee-saved registers (which may hold the only
; reference to an object) so the conservative stack scan sees them, then calls collector(rsp).
global GcCollectWithRegisters
GcCollectWithRegisters:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov rax, rdi
    mov rdi, rsp
    sub rsp, 8                 ; 6 pushes + return address: realign to 16
    call rax
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

extern boot_stack, boot_stack_top
global GetBootStackLow, GetBootStackHigh
GetBootStackLow:
    mov rax, boot_stack
    ret
GetBootStackHigh:
    mov rax, boot_stack_top
    ret
