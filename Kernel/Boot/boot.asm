; Boot stub: GRUB (multiboot2) enters here in 32-bit protected mode. We build identity page
; tables for the first 4 GiB (page 0 left unmapped so null dereferences fault), switch to long
; mode, enable SSE and call the C# kernel entry point KernelMain(magic, info, modulesStart, modulesEnd).
;
; References: Multiboot2 Specification 2.0, 3.1; Intel SDM Vol. 3A, 9.8.5 (initializing IA-32e mode).

bits 32

MULTIBOOT2_MAGIC        equ 0xE85250D6
MULTIBOOT2_ARCH_I386    equ 0
MULTIBOOT2_TAG_END      equ 0
MULTIBOOT2_TAG_FRAMEBUFFER equ 5
MULTIBOOT2_TAG_OPTIONAL equ 1

PAGE_PRESENT    equ 1 << 0
PAGE_WRITABLE   equ 1 << 1
PAGE_LARGE      equ 1 << 7

CR0_PG          equ 1 << 31
CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR4_PAE         equ 1 << 5
CR4_OSFXSR      equ 1 << 9
CR4_OSXMMEXCPT  equ 1 << 10
EFER_MSR        equ 0xC0000080
EFER_LME        equ 1 << 8
EFER_NXE        equ 1 << 11

BOOT_STACK_SIZE equ 64 * 1024

section .multiboot_header
align 8
multiboot2_header:
    dd MULTIBOOT2_MAGIC
    dd MULTIBOOT2_ARCH_I386
    dd multiboot2_header_end - multiboot2_header
    dd -(MULTIBOOT2_MAGIC + MULTIBOOT2_ARCH_I386 + (multiboot2_header_end - multiboot2_header))
    ; Framebuffer request (optional): lets UEFI machines show the console; BIOS keeps text mode
    ; when grub.cfg says gfxpayload=text.
    align 8
    dw MULTIBOOT2_TAG_FRAMEBUFFER
    dw MULTIBOOT2_TAG_OPTIONAL
    dd 20
    dd 0        ; width: no preference
    dd 0        ; height
    dd 32       ; depth
    align 8
    dw MULTIBOOT2_TAG_END
    dw 0
    dd 8
multiboot2_header_end:

section .boot_bss nobits alloc write
align 4096
boot_pml4:      resb 4096
boot_pdpt:      resb 4096
boot_pd:        resb 4096 * 4     ; 4 page directories = 4 GiB of 2 MiB pages
boot_pt0:       resb 4096         ; first 2 MiB in 4 KiB pages (page 0 not present)
boot_stack_guard: resb 4096       ; unmapped by Scheduler.Initialize: an overflow faults here
boot_stack:     resb BOOT_STACK_SIZE
boot_stack_top:
saved_magic:    resd 1
saved_info:     resd 1

section .boot_text progbits alloc exec
global _start
global boot_stack, boot_stack_top
_start:
    cli
    mov esp, boot_stack_top
    mov [saved_magic], eax
    mov [saved_info], ebx

    ; PML4[0] -> PDPT
    mov eax, boot_pdpt
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [boot_pml4], eax

    ; PDPT[0..3] -> PD0..PD3
    mov ecx, 0
.fill_pdpt:
    mov eax, ecx
    shl eax, 12
    add eax, boot_pd
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jne .fill_pdpt

    ; PD entries: 2 MiB pages covering 0..4 GiB
    mov ecx, 0
.fill_pd:
    mov eax, ecx
    shl eax, 21
    or eax, PAGE_PRESENT | PAGE_WRITABLE | PAGE_LARGE
    mov [boot_pd + ecx * 8], eax
    mov edx, ecx
    shr edx, 11                    ; high dword of the physical address (ecx * 2 MiB >> 32)
    mov [boot_pd + ecx * 8 + 4], edx
    inc ecx
    cmp ecx, 2048
    jne .fill_pd

    ; The first 2 MiB use 4 KiB pages so that page 0 can stay unmapped.
    mov ecx, 1
.fill_pt0:
    mov eax, ecx
    shl eax, 12
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [boot_pt0 + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jne .fill_pt0
    mov eax, boot_pt0
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [boot_pd], eax
    mov dword [boot_pd + 4], 0

    ; Enable PAE, load CR3, set EFER.LME (+NXE), enable paging.
    mov eax, cr4
    or eax, CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT
    mov cr4, eax
    mov eax, boot_pml4
    mov cr3, eax
    mov ecx, EFER_MSR
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    and eax, ~CR0_EM
    or eax, CR0_PG | CR0_MP
    mov cr0, eax

    lgdt [boot_gdt_pointer]
    jmp 0x08:long_mode_entry

section .boot_data progbits alloc write
align 16
boot_gdt:
    dq 0                            ; null
    dq 0x00AF9A000000FFFF           ; 0x08: 64-bit code, ring 0
    dq 0x00CF92000000FFFF           ; 0x10: data, ring 0
boot_gdt_end:
boot_gdt_pointer:
    dw boot_gdt_end - boot_gdt - 1
    dq boot_gdt

bits 64
section .boot_text
extern KernelMain
extern __modules_start
extern __modules_end
long_mode_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top
    xor rbp, rbp

    ; SSE is on (CR4.OSFXSR); initialize the x87/SSE state.
    fninit

    mov edi, [saved_magic]
    mov esi, [saved_info]
    mov rdx, __modules_start
    mov rcx, __modules_end
    call KernelMain
.halt:
    cli
    hlt
    jmp .halt
